/**
 * claude-api-key, gemini-api-key and codex-api-key upstreams: what reaches them (paths, auth
 * headers, translated bodies), Claude Code's requests passed through untouched, failover between
 * families and keys on vendor errors, and the config rules (catalog, prefix, codex base-url).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import OpenAI from 'openai';
import { CLIENT_KEY, post, startProxy, type TestProxy } from './helpers/proxy.js';
import { json, mockUpstream, type MockUpstream } from './helpers/upstream.js';
import { vendorConfig, vendorUpstream } from './helpers/vendors.js';

const closers: Array<{ close(): Promise<void> }> = [];
after(() => Promise.all(closers.map((c) => c.close())));

async function vendor(family: Parameters<typeof vendorUpstream>[0]) {
  const u = await vendorUpstream(family);
  closers.push(u);
  return u;
}

async function proxyWith(config: Record<string, unknown>): Promise<TestProxy> {
  const p = await startProxy(config);
  closers.push(p);
  return p;
}

const anthropicHeaders = { 'anthropic-version': '2023-06-01', 'x-api-key': CLIENT_KEY };

describe('what reaches each family from a chat client', () => {
  test('claude-api-key: /v1/messages, x-api-key and anthropic-version, system and max_tokens set', async () => {
    const up = await vendor('anthropic');
    const proxy = await proxyWith({ 'claude-api-key': [{ 'api-key': 'sk-ant-upstream-1', 'base-url': up.baseUrl, models: [{ name: 'claude-sonnet-4-5', alias: 'sonnet' }], headers: { 'X-Team': 'blue' } }] });
    const res = await post(`${proxy.baseURL}/chat/completions`, { model: 'sonnet', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], temperature: 1.5 });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-cliproxy-provider'), 'claude-api-key[0]');
    const r = up.requests.at(-1)!;
    assert.equal(r.path, '/v1/messages');
    assert.equal(r.headers['x-api-key'], 'sk-ant-upstream-1');
    assert.equal(r.headers['anthropic-version'], '2023-06-01');
    assert.equal(r.headers['x-team'], 'blue');
    assert.equal(r.json.model, 'claude-sonnet-4-5');
    assert.equal(r.json.system, 'Be brief.');
    assert.equal(r.json.max_tokens, 8192);
    assert.equal(r.json.temperature, 1, 'OpenAI temperatures above 1 are clamped to Anthropic range');
    assert.deepEqual(r.json.messages, [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }]);
    const body = (await res.json()) as any;
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.usage.prompt_tokens, 10);
  });

  test('gemini-api-key: streamGenerateContent?alt=sse with x-goog-api-key, systemInstruction, no Authorization', async () => {
    const up = await vendor('gemini');
    const proxy = await proxyWith({ 'gemini-api-key': [{ 'api-key': 'AIza-upstream-1', 'base-url': up.baseUrl, models: [{ name: 'gemini-2.5-flash', alias: 'flash' }] }] });
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'flash', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true }, max_tokens: 100 });
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    assert.equal(usage?.total_tokens, 15);
    const r = up.requests.at(-1)!;
    assert.equal(r.path, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    assert.equal(r.headers['x-goog-api-key'], 'AIza-upstream-1');
    assert.equal(r.headers.authorization, undefined);
    assert.deepEqual(r.json.systemInstruction, { parts: [{ text: 'Be brief.' }] });
    assert.equal(r.json.generationConfig.maxOutputTokens, 100);
    assert.equal(r.json.model, undefined, 'the model is in the path');
  });

  test('gemini-api-key passthrough: token usage from usageMetadata is recorded (plain and streamed)', async () => {
    const up = await vendor('gemini');
    const proxy = await proxyWith({ 'gemini-api-key': [{ 'api-key': 'AIza-upstream-2', 'base-url': up.baseUrl, models: [{ name: 'gemini-2.5-flash', alias: 'gflash' }] }], metrics: { public: true } });
    const body = { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] };
    const headers = { 'x-goog-api-key': CLIENT_KEY, 'content-type': 'application/json' };
    const plain = await fetch(`${proxy.url}/v1beta/models/gflash:generateContent`, { method: 'POST', headers, body: JSON.stringify(body) });
    assert.equal(plain.status, 200);
    await plain.text();
    const streamed = await fetch(`${proxy.url}/v1beta/models/gflash:streamGenerateContent?alt=sse`, { method: 'POST', headers, body: JSON.stringify(body) });
    assert.equal(streamed.status, 200);
    assert.match(await streamed.text(), /usageMetadata/);
    assert.ok(up.requests.every((r) => r.json.contents !== undefined), 'the Gemini body went up as it was');
    const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
    // The vendor stub reports promptTokenCount 10 and candidatesTokenCount 5 per answer.
    assert.match(metrics, /cliproxy_tokens_total\{model="gflash",direction="in"\} 20\n/);
    assert.match(metrics, /cliproxy_tokens_total\{model="gflash",direction="out"\} 10\n/);
  });

  test('codex-api-key: /responses with Bearer, instructions, store false', async () => {
    const up = await vendor('responses');
    const proxy = await proxyWith({ 'codex-api-key': [{ 'api-key': 'sk-codex-upstream-1', 'base-url': up.baseUrl, models: [{ name: 'gpt-5-codex' }] }] });
    const res = await post(`${proxy.baseURL}/chat/completions`, { model: 'gpt-5-codex', messages: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], reasoning_effort: 'high' });
    assert.equal(res.status, 200);
    const r = up.requests.at(-1)!;
    assert.equal(r.path, '/v1/responses');
    assert.equal(r.headers.authorization, 'Bearer sk-codex-upstream-1');
    assert.equal(r.json.instructions, 'Be brief.');
    assert.equal(r.json.store, false);
    assert.deepEqual(r.json.reasoning, { effort: 'high', summary: 'auto' });
    assert.deepEqual(r.json.input, [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }] }]);
  });

  test('a native-only model refuses endpoints its upstream does not have', async () => {
    const up = await vendor('anthropic');
    const proxy = await proxyWith({ 'claude-api-key': [{ 'api-key': 'k', 'base-url': up.baseUrl, models: [{ name: 'claude-x' }] }] });
    const res = await post(`${proxy.baseURL}/embeddings`, { model: 'claude-x', input: 'hi' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as any).error.code, 'unsupported_endpoint');
    assert.equal(up.requests.length, 0);
  });
});

/** An Anthropic upstream that answers with the exact bytes given, recording what it got. */
async function fixedAnthropic(body: string, contentType = 'application/json'): Promise<MockUpstream> {
  const up = await mockUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': contentType, 'request-id': 'req_upstream' });
    res.end(body);
  });
  closers.push(up);
  return up;
}

const THINKING_MESSAGE = JSON.stringify({
  id: 'msg_native', type: 'message', role: 'assistant', model: 'claude-opus-4-1',
  content: [{ type: 'thinking', thinking: 'Let me think.', signature: 'EqQBCkYIBxgCKkDsig==' }, { type: 'text', text: 'Done.' }],
  stop_reason: 'end_turn', stop_sequence: null,
  usage: { input_tokens: 20, cache_read_input_tokens: 100, cache_creation_input_tokens: 0, output_tokens: 7 },
});

const CLAUDE_CODE_REQUEST = {
  model: 'opus',
  max_tokens: 4096,
  thinking: { type: 'enabled', budget_tokens: 2048 },
  system: [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }],
  messages: [
    { role: 'user', content: [{ type: 'text', text: 'Fix the bug', cache_control: { type: 'ephemeral' } }] },
    { role: 'assistant', content: [{ type: 'thinking', thinking: 'Earlier thought.', signature: 'sig-earlier==' }, { type: 'text', text: 'Looking.' }] },
    { role: 'user', content: 'Go on' },
  ],
  metadata: { user_id: 'user_abc' },
  context_management: { edits: [{ type: 'clear_tool_uses_20250919' }] },
};

describe('Claude Code to a claude-api-key upstream passes through', () => {
  test('request bytes kept but model; betas forwarded and merged; the answer relayed as is', async () => {
    const up = await fixedAnthropic(THINKING_MESSAGE);
    const proxy = await proxyWith({
      'claude-api-key': [{ 'api-key': 'sk-ant-native', 'base-url': `${up.url.replace(/\/v1$/, '')}`, models: [{ name: 'claude-opus-4-1', alias: 'opus' }], headers: { 'anthropic-beta': 'context-1m-2025-08-07' } }],
    });
    const text = JSON.stringify(CLAUDE_CODE_REQUEST);
    const res = await post(`${proxy.url}/v1/messages?beta=true`, text, { ...anthropicHeaders, 'anthropic-beta': 'interleaved-thinking-2025-05-14' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), THINKING_MESSAGE, 'the answer byte for byte (thinking signature included)');
    assert.equal(res.headers.get('x-upstream-request-id'), 'req_upstream');
    assert.notEqual(res.headers.get('request-id'), 'req_upstream', 'request-id names our request');
    const r = up.requests[0]!;
    assert.equal(r.body, text.replace('"model":"opus"', '"model":"claude-opus-4-1"'));
    assert.equal(r.headers['anthropic-beta'], 'context-1m-2025-08-07,interleaved-thinking-2025-05-14');
    assert.equal(r.headers['anthropic-version'], '2023-06-01');
    assert.equal(r.headers['x-api-key'], 'sk-ant-native');
    assert.notEqual(r.headers['x-api-key'], CLIENT_KEY);
  });

  test('a stream is relayed event for event, signature deltas included', async () => {
    const events = [
      ['message_start', { type: 'message_start', message: { id: 'msg_s', type: 'message', role: 'assistant', model: 'claude-opus-4-1', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, output_tokens: 1 } } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Hmm.' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'EqQBsig==' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hi!' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 1 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 9 } }],
      ['message_stop', { type: 'message_stop' }],
    ];
    const wire = events.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`).join('');
    const up = await fixedAnthropic(wire, 'text/event-stream');
    const proxy = await proxyWith({ 'claude-api-key': [{ 'api-key': 'k', 'base-url': up.url.replace(/\/v1$/, ''), models: [{ name: 'claude-opus-4-1', alias: 'opus' }] }] });
    const res = await post(`${proxy.url}/v1/messages`, { ...CLAUDE_CODE_REQUEST, stream: true }, anthropicHeaders);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    assert.equal(await res.text(), wire);
    assert.equal(up.requests[0]!.headers.accept, 'text/event-stream');
  });

  test('what the hub cannot express (a Files API image) reaches a claude-api-key upstream intact', async () => {
    const up = await fixedAnthropic(THINKING_MESSAGE);
    const chat = await vendor('openai');
    const proxy = await proxyWith({
      'claude-api-key': [{ 'api-key': 'k', 'base-url': up.url.replace(/\/v1$/, ''), models: [{ name: 'claude-opus-4-1', alias: 'opus' }] }],
      'openai-compatibility': [{ name: 'chat', 'base-url': chat.url, 'api-key-entries': [{ 'api-key': 'k2' }], models: [{ name: 'gpt-x', alias: 'gpt' }] }],
    });
    const files = { role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'file_011' } }, { type: 'text', text: 'What is this?' }] };
    const ok = await post(`${proxy.url}/v1/messages`, { model: 'opus', max_tokens: 100, messages: [files] }, anthropicHeaders);
    assert.equal(ok.status, 200);
    assert.equal(up.requests.at(-1)!.json.messages[0].content[0].source.file_id, 'file_011');
    const translated = await post(`${proxy.url}/v1/messages`, { model: 'gpt', max_tokens: 100, messages: [files] }, anthropicHeaders);
    assert.equal(translated.status, 200);
    assert.ok(!chat.requests.at(-1)!.body.includes('file_011'), 'an OpenAI upstream cannot read a Files API id');
  });
});

describe('count_tokens', () => {
  test('a claude-api-key upstream counts; one without the endpoint falls back to the estimate and is not cooled', async () => {
    const counting = await mockUpstream((_req, res, r) => {
      if (r.path === '/v1/messages/count_tokens') return json({ input_tokens: 4242 })(_req, res, r);
      return json({ type: 'error', error: { type: 'not_found_error', message: 'no' } }, 404)(_req, res, r);
    });
    const without = await mockUpstream(json({ type: 'error', error: { type: 'not_found_error', message: 'Not Found' } }, 404));
    closers.push(counting, without);
    const proxy = await proxyWith({
      'claude-api-key': [
        { 'api-key': 'a', 'base-url': `http://127.0.0.1:${counting.port}`, models: [{ name: 'claude-opus-4-1', alias: 'opus' }] },
        { 'api-key': 'b', 'base-url': `http://127.0.0.1:${without.port}`, models: [{ name: 'claude-x', alias: 'plain' }] },
      ],
    });
    const body = { model: 'opus', messages: [{ role: 'user', content: 'Hello there' }] };
    const exact = await post(`${proxy.url}/v1/messages/count_tokens`, body, { ...anthropicHeaders, 'anthropic-beta': 'token-counting-2024-11-01' });
    assert.deepEqual(await exact.json(), { input_tokens: 4242 });
    const sent = counting.requests.at(-1)!;
    assert.equal(sent.json.model, 'claude-opus-4-1');
    assert.equal(sent.headers['anthropic-beta'], 'token-counting-2024-11-01');
    const estimated = await post(`${proxy.url}/v1/messages/count_tokens`, { ...body, model: 'plain' }, anthropicHeaders);
    const count = ((await estimated.json()) as any).input_tokens;
    assert.ok(count > 0 && count < 100, `an estimate (${count})`);
    const credential = proxy.gateway.store.current().registry.pools.get('plain')!.members[0]!;
    assert.equal(proxy.gateway.runtime.balancer.isCooling(credential, credential.provider.credentials[0]!), false);
  });
});

describe('failover across families and keys', () => {
  test('a mixed pool: a rate-limited claude key cools down (anthropic-ratelimit reset) and gemini answers', async () => {
    const limited = await mockUpstream((_req, res) => {
      const reset = new Date(Date.now() + 40_000).toISOString();
      res.writeHead(429, { 'content-type': 'application/json', 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': reset });
      res.end(JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'Number of requests has exceeded your rate limit' } }));
    });
    closers.push(limited);
    const gemini = await vendor('gemini');
    const proxy = await proxyWith({
      routing: { strategy: 'fill-first' },
      'claude-api-key': [{ 'api-key': 'sk-ant-limited', 'base-url': `http://127.0.0.1:${limited.port}`, models: [{ name: 'claude-sonnet-4-5', alias: 'smart' }] }],
      'gemini-api-key': [{ 'api-key': 'AIza-ok', 'base-url': gemini.baseUrl, models: [{ name: 'gemini-2.5-pro', alias: 'smart' }] }],
    });
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL, maxRetries: 0 });
    const first = await client.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(first.choices[0]!.message.content, 'Hello from gemini');
    const second = await client.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    for await (const c of second) text += c.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'Hello from gemini');
    assert.equal(limited.requests.length, 1, 'the cooling claude key is not tried again');
    const cooling = proxy.gateway.runtime.balancer.describe(proxy.gateway.store.current().registry.pools.get('smart')!.members[0]!.provider.credentials[0]!);
    const left = cooling.cooldowns[0]!.until - Date.now();
    assert.ok(left > 30_000 && left <= 40_000, `cooldown follows the reset header (${left} ms)`);
  });

  test('an error event right after message_start fails over; a gemini 400 API_KEY_INVALID cools that key', async () => {
    const overloaded = await mockUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'm', type: 'message', role: 'assistant', model: 'c', content: [], usage: { input_tokens: 1, output_tokens: 0 } } })}\n\n`);
      res.end(`event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })}\n\n`);
    });
    closers.push(overloaded);
    const badKey = await mockUpstream(json({ error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }] } }, 400));
    closers.push(badKey);
    const good = await vendor('responses');
    const proxy = await proxyWith({
      routing: { strategy: 'fill-first' },
      'claude-api-key': [{ 'api-key': 'a', 'base-url': `http://127.0.0.1:${overloaded.port}`, models: [{ name: 'c', alias: 'm' }], priority: 3 }],
      'gemini-api-key': [{ 'api-key': 'bad', 'base-url': `http://127.0.0.1:${badKey.port}`, models: [{ name: 'g', alias: 'm' }], priority: 2 }],
      'codex-api-key': [{ 'api-key': 'c', 'base-url': good.baseUrl, models: [{ name: 'gpt-5', alias: 'm' }], priority: 1 }],
    });
    const res = await post(`${proxy.url}/v1/messages`, { model: 'm', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'Hi' }] }, anthropicHeaders);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-cliproxy-provider'), 'codex-api-key[0]');
    assert.equal(res.headers.get('x-cliproxy-attempts'), '3');
    const text = await res.text();
    const deltas = [...text.matchAll(/"text_delta","text":"([^"]*)"/g)].map((m) => m[1]).join('');
    assert.equal(deltas, 'Hello from responses');
    assert.match(text, /event: message_stop/);
    const creds = proxy.gateway.store.current().registry.pools.get('m')!.members.map((t) => proxy.gateway.runtime.balancer.describe(t.provider.credentials[0]!));
    assert.equal(creds[1]!.cooldowns[0]?.reason, 'auth', 'the invalid gemini key cools down as an auth fault');
  });

  test('a translated stream cut before its end event reaches the chat client as an error', async () => {
    const cut = await mockUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'm', model: 'c', usage: { input_tokens: 1 } } })}\n\n`);
      res.write(`event: content_block_start\ndata: ${JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })}\n\n`);
      res.end(`event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Partial' } })}\n\n`);
    });
    closers.push(cut);
    const proxy = await proxyWith({ 'claude-api-key': [{ 'api-key': 'a', 'base-url': `http://127.0.0.1:${cut.port}`, models: [{ name: 'c' }] }] });
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'c', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    await assert.rejects(async () => {
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    }, /message_stop/);
    assert.equal(text, 'Partial');
  });
});

describe('per-key request-retry', () => {
  test('a key with request-retry 2 is retried twice although the global setting is 0; one with 0 is not retried', async () => {
    const failing = await mockUpstream(json({ type: 'error', error: { type: 'api_error', message: 'Internal server error' } }, 500));
    closers.push(failing);
    const base = `http://127.0.0.1:${failing.port}`;
    const proxy = await proxyWith({
      'request-retry': 0,
      'claude-api-key': [
        { 'api-key': 'retried', 'base-url': base, models: [{ name: 'c', alias: 'retried' }], 'request-retry': 2, 'disable-cooling': true },
        { 'api-key': 'once', 'base-url': base, models: [{ name: 'c', alias: 'once' }], 'request-retry': 0, 'disable-cooling': true },
      ],
    });
    const retried = await post(`${proxy.baseURL}/chat/completions`, { model: 'retried', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(retried.status, 500);
    assert.equal(retried.headers.get('x-cliproxy-attempts'), '3');
    const once = await post(`${proxy.baseURL}/chat/completions`, { model: 'once', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(once.headers.get('x-cliproxy-attempts'), '1');
  });
});

describe('config', () => {
  test('entries without models serve the family catalog; prefix namespaces; owned_by names the vendor', async () => {
    const proxy = await proxyWith({
      'claude-api-key': [{ 'api-key': 'a' }],
      'gemini-api-key': [{ 'api-key': 'b', prefix: 'team' }],
    });
    const res = await fetch(`${proxy.baseURL}/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
    const models = ((await res.json()) as any).data as Array<{ id: string; owned_by: string }>;
    assert.ok(models.some((m) => m.id === 'claude-sonnet-4-5-20250929' && m.owned_by === 'anthropic'));
    assert.ok(models.some((m) => m.id === 'team/gemini-2.5-pro' && m.owned_by === 'google'));
    assert.ok(!models.some((m) => m.id === 'gemini-2.5-pro'));
    const provider = proxy.gateway.store.current().registry.pools.get('claude-sonnet-4-5-20250929')!.members[0]!.provider;
    assert.equal(provider.origin, 'https://api.anthropic.com');
    assert.equal(provider.credentials[0]!.headers['x-api-key'], 'a');
    assert.equal(provider.credentials[0]!.headers.authorization, undefined, 'Anthropic itself gets x-api-key only');
  });

  test('codex-api-key needs a base-url', async () => {
    await assert.rejects(startProxy({ 'codex-api-key': [{ 'api-key': 'a', models: [{ name: 'gpt-5' }] }] }), /codex-api-key.*base-url/s);
  });
});
