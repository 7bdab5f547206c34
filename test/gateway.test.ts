/** Core client API end to end: the openai SDK against the real server and loopback upstreams. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { chatBody, CLIENT_KEY, post, provider, startProxy, type TestProxy } from './helpers/proxy.js';
import { chunk, completion, json, mockUpstream, sse, type MockUpstream } from './helpers/upstream.js';

describe('OpenAI-compatible API', () => {
  let up: MockUpstream;
  let proxy: TestProxy;
  let client: OpenAI;

  before(async () => {
    up = await mockUpstream((req, res, r) => {
      if (r.json?.stream) return sse([chunk('Hel', r.json.model), chunk('lo', r.json.model), chunk('', r.json.model, 'stop')])(req, res, r);
      if (r.path.endsWith('/embeddings')) return json({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }], model: r.json.model })(req, res, r);
      return json(completion(`echo:${r.json?.messages?.at(-1)?.content ?? r.json?.prompt}`, r.json?.model))(req, res, r);
    });
    proxy = await startProxy({
      'openai-compatibility': [
        provider('openrouter', up.url, [
          { name: 'anthropic/claude-3.5-sonnet', alias: 'openrouter-claude' },
          { name: 'plain-model' },
          { name: 'mapped-upstream', alias: 'mapped', 'force-mapping': true },
          { name: 'text-embedding-3-small' },
        ], { headers: { 'HTTP-Referer': 'https://myapp.com', 'X-Title': 'My Application' } }),
        provider('or-prefixed', up.url, [{ name: 'anthropic/claude-3.5-sonnet', alias: 'claude-sonnet' }], { prefix: 'or' }),
        provider('off', up.url, ['disabled-model'], { disabled: true }),
      ],
    });
    client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL, maxRetries: 0 });
  });
  after(async () => {
    await proxy.close();
    await up.close();
  });

  test('GET /v1/models lists aliases, names and prefixed ids, owned_by the provider', async () => {
    const list = await client.models.list();
    const ids = list.data.map((m) => m.id);
    assert.deepEqual(ids, ['openrouter-claude', 'plain-model', 'mapped', 'text-embedding-3-small', 'or/claude-sonnet']);
    const first = list.data[0]!;
    assert.equal(first.object, 'model');
    assert.equal(first.owned_by, 'openrouter');
    assert.equal(typeof first.created, 'number');
    assert.equal(list.data.at(-1)!.owned_by, 'or-prefixed');
  });

  test('GET /v1/models/{id} answers one model, 404 for an unknown one, and takes ids with a slash', async () => {
    const m = await client.models.retrieve('or/claude-sonnet');
    assert.equal(m.id, 'or/claude-sonnet');
    await assert.rejects(client.models.retrieve('nope'), (e: any) => e.status === 404 && e.code === 'model_not_found');
  });

  test('chat completion through an alias renames the model upstream and passes fields through', async () => {
    const before = up.requests.length;
    const res = await client.chat.completions.create({
      model: 'openrouter-claude',
      messages: [{ role: 'user', content: 'Hello' }],
      temperature: 0.3,
      // An unknown field must reach the upstream untouched.
      ...({ provider_specific: { a: [1, 2] } } as object),
    });
    assert.equal(res.choices[0]!.message.content, 'echo:Hello');
    const got = up.requests[before]!;
    assert.equal(got.path, '/v1/chat/completions');
    assert.equal(got.json.model, 'anthropic/claude-3.5-sonnet');
    assert.equal(got.json.temperature, 0.3);
    assert.deepEqual(got.json.provider_specific, { a: [1, 2] });
    assert.equal(got.headers.authorization, 'Bearer sk-openrouter-upstream-key-1234');
    assert.equal(got.headers['http-referer'], 'https://myapp.com');
    assert.equal(got.headers['x-title'], 'My Application');
    // Without force-mapping the upstream's answer is returned as sent.
    assert.equal(res.model, 'anthropic/claude-3.5-sonnet');
  });

  test('the body is forwarded byte for byte except the model value', async () => {
    const before = up.requests.length;
    const raw = '{"messages":[{"role":"user","content":"x","model":"keep-me"}],  "model" : "openrouter-claude","z":1.50}';
    const res = await post(`${proxy.baseURL}/chat/completions`, raw);
    assert.equal(res.status, 200);
    assert.equal(up.requests[before]!.body, '{"messages":[{"role":"user","content":"x","model":"keep-me"}],  "model" : "anthropic/claude-3.5-sonnet","z":1.50}');
  });

  test('model ids are case-insensitive; a prefixed provider answers only with its prefix', async () => {
    const res = await client.chat.completions.create({ model: 'OpenRouter-Claude', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.choices[0]!.message.content, 'echo:hi');
    const viaPrefix = await client.chat.completions.create({ model: 'or/claude-sonnet', messages: [{ role: 'user', content: 'p' }] });
    assert.equal(viaPrefix.choices[0]!.message.content, 'echo:p');
    await assert.rejects(
      client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'p' }] }),
      (e: any) => e.status === 404 && e.code === 'model_not_found' && /claude-sonnet/.test(e.message),
    );
    await assert.rejects(client.chat.completions.create({ model: 'disabled-model', messages: [] }), (e: any) => e.status === 404);
  });

  test('force-mapping rewrites model back to the alias in responses and stream chunks', async () => {
    const res = await client.chat.completions.create({ model: 'mapped', messages: [{ role: 'user', content: 'm' }] });
    assert.equal(res.model, 'mapped');
    const stream = await client.chat.completions.create({ model: 'mapped', messages: [{ role: 'user', content: 'm' }], stream: true });
    const models = new Set<string>();
    let text = '';
    for await (const c of stream) {
      models.add(c.model);
      text += c.choices[0]?.delta?.content ?? '';
    }
    assert.deepEqual([...models], ['mapped']);
    assert.equal(text, 'Hello');
  });

  test('streaming passes SSE through and ends with [DONE]', async () => {
    const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('plain-model', { stream: true }));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /text\/event-stream/);
    const text = await res.text();
    assert.equal((text.match(/^data: /gm) ?? []).length, 4);
    assert.ok(text.trimEnd().endsWith('data: [DONE]'));
  });

  test('legacy completions and embeddings are forwarded to the same path below base-url', async () => {
    const before = up.requests.length;
    const c = await client.completions.create({ model: 'plain-model', prompt: 'Say' });
    assert.equal(up.requests[before]!.path, '/v1/completions');
    assert.ok(c.choices[0]);
    const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x', encoding_format: 'float' });
    assert.deepEqual(e.data[0]!.embedding, [0.1, 0.2]);
    assert.equal(up.requests.at(-1)!.path, '/v1/embeddings');
  });

  test('client auth: Bearer, x-api-key, x-goog-api-key and ?key= work; missing or wrong keys get 401', async () => {
    const url = `${proxy.baseURL}/models`;
    for (const init of [{ headers: { 'x-api-key': CLIENT_KEY } }, { headers: { 'x-goog-api-key': CLIENT_KEY } }] as RequestInit[]) {
      assert.equal((await fetch(url, init)).status, 200);
    }
    assert.equal((await fetch(`${url}?key=${CLIENT_KEY}`)).status, 200);
    const missing = await fetch(url);
    assert.equal(missing.status, 401);
    const body = (await missing.json()) as any;
    assert.equal(body.error.type, 'authentication_error');
    assert.equal(body.error.code, 'invalid_api_key');
    const wrong = await fetch(url, { headers: { authorization: 'Bearer sk-wrong' } });
    assert.equal(wrong.status, 401);
    assert.doesNotMatch(await wrong.text(), /sk-wrong/);
  });

  test('health, root and CORS preflight need no key', async () => {
    assert.deepEqual(await (await fetch(`${proxy.url}/healthz`)).json(), { status: 'ok' });
    const root = (await (await fetch(`${proxy.url}/`)).json()) as any;
    assert.equal(root.name, 'cliproxy');
    assert.ok(root.endpoints.includes('POST /v1/chat/completions'));
    const pre = await fetch(`${proxy.baseURL}/chat/completions`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-headers': 'authorization,content-type' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    const res = await fetch(`${proxy.baseURL}/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.ok(res.headers.get('x-request-id'));
  });

  test('bad requests get OpenAI-style 4xx errors', async () => {
    const cases: Array<[string, number, string]> = [
      ['{not json', 400, 'invalid_json'],
      ['[1,2]', 400, 'invalid_json'],
      ['"str"', 400, 'invalid_json'],
      ['{"messages":[]}', 400, 'missing_model'],
      ['{"model":42,"messages":[]}', 400, 'invalid_model'],
      ['{"model":"plain-model","messages":"hi"}', 400, 'invalid_messages'],
      ['{"model":"unknown-model","messages":[]}', 404, 'model_not_found'],
    ];
    for (const [body, status, code] of cases) {
      const res = await post(`${proxy.baseURL}/chat/completions`, body);
      assert.equal(res.status, status, body);
      const err = (await res.json()) as any;
      assert.equal(err.error.code, code, body);
      assert.equal(typeof err.error.message, 'string');
      assert.equal(typeof err.error.type, 'string');
    }
    const wrongMethod = await fetch(`${proxy.baseURL}/chat/completions`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
    assert.equal(wrongMethod.status, 405);
    const unknownPath = await fetch(`${proxy.baseURL}/nothing`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
    assert.equal(unknownPath.status, 404);
  });
});
