/**
 * The Gemini API end to end: the official @google/genai SDK as client, the real gateway, and a
 * loopback OpenAI-compatible upstream (so Gemini CLI and Gemini SDK code work on any provider).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiError, FunctionCallingConfigMode, GoogleGenAI, Type, type Content, type FunctionDeclaration } from '@google/genai';
import { CLIENT_KEY, provider, startProxy, type TestProxy } from './helpers/proxy.js';
import { completion, error, json, mockUpstream, sleep, sse, type MockUpstream, type Recorded } from './helpers/upstream.js';

const ID = 'chatcmpl-gem';

const delta = (model: string, d: Record<string, unknown>, finish: string | null = null) => ({
  id: ID, object: 'chat.completion.chunk', created: 1700000000, model, choices: [{ index: 0, delta: d, finish_reason: finish }],
});
const usageChunk = (model: string, prompt: number, out: number, reasoning = 0) => ({
  id: ID, object: 'chat.completion.chunk', created: 1700000000, model, choices: [],
  usage: { prompt_tokens: prompt, completion_tokens: out, total_tokens: prompt + out, completion_tokens_details: { reasoning_tokens: reasoning } },
});

/** The text of the last chat message the upstream received. */
function lastText(r: Recorded): string {
  const content = r.json.messages.at(-1).content;
  return typeof content === 'string' ? content : content.filter((p: any) => p.type === 'text').map((p: any) => p.text).join('');
}

type Reply = (req: IncomingMessage, res: ServerResponse, r: Recorded) => void | Promise<void>;

/** Answers the weather tool loop: a call first, then (given a tool message) an answer quoting it. */
function toolsReply(model: string, r: Recorded): Reply {
  const last = r.json.messages.at(-1);
  const stream = r.json.stream === true;
  if (last.role === 'tool') {
    const text = `It is ${last.content} (${last.tool_call_id})`;
    return stream ? sse([delta(model, { content: text }), delta(model, {}, 'stop'), usageChunk(model, 30, 8)]) : json(completion(text, model));
  }
  const call = { id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } };
  if (!stream) {
    return json(completion('', model, { choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [call] }, finish_reason: 'tool_calls' }] }));
  }
  return sse([
    delta(model, { role: 'assistant', content: null }),
    delta(model, { tool_calls: [{ index: 0, id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
    delta(model, { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
    delta(model, { tool_calls: [{ index: 0, function: { arguments: ' "Paris"}' } }] }),
    delta(model, {}, 'tool_calls'),
    usageChunk(model, 20, 5),
  ]);
}

async function scenarioUpstream(): Promise<MockUpstream> {
  return mockUpstream((req, res, r) => {
    const model: string = r.json?.model ?? '';
    const stream = r.json?.stream === true;
    switch (model) {
      case 'text-up':
        if (stream) return sse([delta(model, { role: 'assistant', content: '' }), delta(model, { content: 'Hel' }), delta(model, { content: 'lo' }), delta(model, {}, 'stop'), usageChunk(model, 11, 2)])(req, res, r);
        return json(completion(`echo:${lastText(r)}`, model, { usage: { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 } }))(req, res, r);
      case 'tools-up':
        return toolsReply(model, r)(req, res, r);
      case 'reason-up':
        if (stream) return sse([delta(model, { reasoning_content: 'Short answer.' }), delta(model, { content: '42' }), delta(model, {}, 'stop'), usageChunk(model, 8, 6, 3)])(req, res, r);
        return json(completion('42', model, {
          choices: [{ index: 0, message: { role: 'assistant', content: '42', reasoning_content: 'Short answer.' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 8, completion_tokens: 6, total_tokens: 14, completion_tokens_details: { reasoning_tokens: 3 } },
        }))(req, res, r);
      case 'embed-up': // embeddings: [index, length of the input, 0.5] per input, listed in reverse
        return json({
          object: 'list', model,
          data: (r.json.input as string[]).map((text, index) => ({ object: 'embedding', index, embedding: [index, text.length, 0.5] })).reverse(),
          usage: { prompt_tokens: 4, total_tokens: 4 },
        })(req, res, r);
      case 'json-up':
        return json(completion('{"name":"Ada","born":1815}', model))(req, res, r);
      case 'length-up':
        return json(completion('Once upon a', model, { choices: [{ index: 0, message: { role: 'assistant', content: 'Once upon a' }, finish_reason: 'length' }] }))(req, res, r);
      case 'broken-up':
        return (async () => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify(delta(model, { content: 'partial' }))}\n\n`);
          await sleep(30);
          res.socket?.destroy();
        })();
      case 'err-429-up':
        return error(429, 'Rate limit reached', 'rate_limit_exceeded', { 'retry-after': '7' })(req, res, r);
      case 'err-400-up':
        return error(400, 'max_tokens is too large', 'invalid_request_error')(req, res, r);
      default:
        return error(404, `no model ${model}`)(req, res, r);
    }
  });
}

const MODELS = ['text', 'tools', 'reason', 'json', 'length', 'broken', 'err-429', 'err-400', 'embed'];

const WEATHER: FunctionDeclaration = {
  name: 'get_weather',
  description: 'Weather for a city',
  parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING, description: 'City name' } }, required: ['city'] },
};

describe('Gemini API with the official @google/genai SDK', () => {
  let up: MockUpstream;
  let proxy: TestProxy;
  let ai: GoogleGenAI;

  before(async () => {
    up = await scenarioUpstream();
    proxy = await startProxy({
      'request-retry': 0,
      'openai-compatibility': [provider('up', up.url, [...MODELS.map((m) => ({ name: `${m}-up`, alias: `gem-${m}` })), { name: 'text-up', alias: 'team/gem:v2' }])],
    });
    ai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: proxy.url } });
  });
  after(async () => {
    await proxy.close();
    await up.close();
  });

  test('generateContent: text back, a chat request upstream with the config mapped', async () => {
    const res = await ai.models.generateContent({
      model: 'gem-text',
      contents: 'Hello',
      config: { systemInstruction: 'Be brief.', temperature: 0.5, topP: 0.9, topK: 40, maxOutputTokens: 256, stopSequences: ['END'] },
    });
    assert.equal(res.text, 'echo:Hello');
    assert.equal(res.candidates![0]!.finishReason, 'STOP');
    assert.equal(res.modelVersion, 'gem-text');
    assert.equal(res.responseId, 'chatcmpl-test');
    assert.deepEqual(res.usageMetadata, { promptTokenCount: 11, candidatesTokenCount: 2, totalTokenCount: 13 });
    assert.equal(res.sdkHttpResponse?.headers?.['x-cliproxy-provider'], 'up');
    const got = up.requests.at(-1)!;
    assert.equal(got.path, '/v1/chat/completions');
    assert.deepEqual(got.json, {
      model: 'text-up',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }],
      temperature: 0.5, top_p: 0.9, max_tokens: 256, stop: ['END'],
    });
  });

  test('generateContentStream: text as it comes, finish reason and usage at the end', async () => {
    const chunks = [];
    for await (const c of await ai.models.generateContentStream({ model: 'gem-text', contents: 'Hello' })) chunks.push(c);
    assert.equal(chunks.map((c) => c.text ?? '').join(''), 'Hello');
    assert.equal(chunks.at(-1)!.candidates![0]!.finishReason, 'STOP');
    assert.deepEqual(chunks.at(-1)!.usageMetadata, { promptTokenCount: 11, candidatesTokenCount: 2, totalTokenCount: 13 });
    assert.deepEqual(up.requests.at(-1)!.json.stream_options, { include_usage: true });
  });

  for (const stream of [false, true]) {
    test(`function-calling loop (${stream ? 'stream' : 'generateContent'}): call, functionResponse, answer`, async () => {
      const config = { tools: [{ functionDeclarations: [WEATHER] }], toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.AUTO } } };
      const contents: Content[] = [{ role: 'user', parts: [{ text: 'Weather in Paris?' }] }];
      let calls;
      let modelContent: Content;
      if (stream) {
        const chunks = [];
        for await (const c of await ai.models.generateContentStream({ model: 'gem-tools', contents, config })) chunks.push(c);
        calls = chunks.flatMap((c) => c.functionCalls ?? []);
        modelContent = { role: 'model', parts: chunks.flatMap((c) => c.candidates?.[0]?.content?.parts ?? []) };
      } else {
        const res = await ai.models.generateContent({ model: 'gem-tools', contents, config });
        calls = res.functionCalls;
        modelContent = res.candidates![0]!.content!;
      }
      assert.deepEqual(calls, [{ id: 'call_paris', name: 'get_weather', args: { city: 'Paris' } }]);
      const first = up.requests.at(-1)!.json;
      assert.deepEqual(first.tools, [{
        type: 'function',
        function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string', description: 'City name' } }, required: ['city'] } },
      }]);
      assert.equal(first.tool_choice, 'auto');

      // The SDK user answers by name only, as Gemini's docs show: the proxy pairs it with the call.
      contents.push(modelContent, { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { output: '18°C' } } }] });
      const final = await ai.models.generateContent({ model: 'gem-tools', contents, config });
      assert.equal(final.text, 'It is 18°C (call_paris)');
      const messages = up.requests.at(-1)!.json.messages;
      assert.deepEqual(messages.slice(1), [
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_paris', content: '18°C' },
      ]);
    });
  }

  test('JSON output: responseMimeType + responseSchema → response_format with JSON Schema types', async () => {
    const res = await ai.models.generateContent({
      model: 'gem-json',
      contents: 'Who wrote the first program?',
      config: {
        responseMimeType: 'application/json',
        responseSchema: { type: Type.OBJECT, properties: { name: { type: Type.STRING }, born: { type: Type.INTEGER, nullable: true } }, propertyOrdering: ['name', 'born'] },
      },
    });
    assert.deepEqual(JSON.parse(res.text!), { name: 'Ada', born: 1815 });
    assert.deepEqual(up.requests.at(-1)!.json.response_format, {
      type: 'json_schema',
      json_schema: { name: 'response', schema: { type: 'object', properties: { name: { type: 'string' }, born: { type: ['integer', 'null'] } } } },
    });
    await ai.models.generateContent({ model: 'gem-json', contents: 'x', config: { responseMimeType: 'application/json', responseJsonSchema: { type: 'object', properties: { a: { type: 'string' } } } } });
    assert.deepEqual(up.requests.at(-1)!.json.response_format.json_schema.schema, { type: 'object', properties: { a: { type: 'string' } } });
  });

  test('thoughts: thought parts only with includeThoughts; budget → reasoning_effort; thoughtsTokenCount', async () => {
    const plain = await ai.models.generateContent({ model: 'gem-reason', contents: 'Meaning of life?' });
    assert.deepEqual(plain.candidates![0]!.content!.parts, [{ text: '42' }]);
    const res = await ai.models.generateContent({ model: 'gem-reason', contents: 'Meaning of life?', config: { thinkingConfig: { includeThoughts: true, thinkingBudget: 2048 } } });
    assert.deepEqual(res.candidates![0]!.content!.parts, [{ text: 'Short answer.', thought: true }, { text: '42' }]);
    assert.equal(res.text, '42');
    assert.deepEqual(res.usageMetadata, { promptTokenCount: 8, candidatesTokenCount: 3, thoughtsTokenCount: 3, totalTokenCount: 14 });
    assert.equal(up.requests.at(-1)!.json.reasoning_effort, 'low');
    const parts = [];
    for await (const c of await ai.models.generateContentStream({ model: 'gem-reason', contents: 'x', config: { thinkingConfig: { includeThoughts: true } } })) parts.push(...(c.candidates?.[0]?.content?.parts ?? []));
    assert.deepEqual(parts, [{ text: 'Short answer.', thought: true }, { text: '42' }]);
  });

  test('finish reasons: length → MAX_TOKENS', async () => {
    const res = await ai.models.generateContent({ model: 'gem-length', contents: 'Tell a story' });
    assert.equal(res.candidates![0]!.finishReason, 'MAX_TOKENS');
  });

  test('embedContent (the SDK sends batchEmbedContents) → /embeddings, in input order', async () => {
    const res = await ai.models.embedContent({ model: 'gem-embed', contents: ['one', 'three'], config: { outputDimensionality: 3, taskType: 'RETRIEVAL_DOCUMENT' } });
    assert.deepEqual(res.embeddings!.map((e) => e.values), [[0, 3, 0.5], [1, 5, 0.5]]);
    const got = up.requests.at(-1)!;
    assert.equal(got.path, '/v1/embeddings');
    assert.deepEqual(got.json, { model: 'embed-up', input: ['one', 'three'], dimensions: 3 });
    const single = await fetch(`${proxy.url}/v1beta/models/gem-embed:embedContent?key=${CLIENT_KEY}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: { parts: [{ text: 'hello' }] } }),
    });
    assert.deepEqual(await single.json(), { embedding: { values: [0, 5, 0.5] } });
  });

  test('countTokens, models.list and models.get in Google\'s format', async () => {
    const count = await ai.models.countTokens({ model: 'gem-text', contents: 'x'.repeat(400) });
    assert.ok(count.totalTokens! >= 100 && count.totalTokens! < 130, String(count.totalTokens));
    const names = [];
    for await (const m of await ai.models.list()) names.push(m.name);
    assert.deepEqual(names, [...MODELS.map((m) => `models/gem-${m}`), 'models/team/gem:v2']);
    const model = await ai.models.get({ model: 'gem-text' });
    assert.equal(model.name, 'models/gem-text');
    assert.deepEqual(model.supportedActions, ['generateContent', 'streamGenerateContent', 'countTokens']);
    const page = (await (await fetch(`${proxy.url}/v1beta/models?pageSize=3&key=${CLIENT_KEY}`)).json()) as any;
    assert.equal(page.models.length, 3);
    assert.equal(page.nextPageToken, '3');
  });

  test('model ids with a slash or a colon, with or without models/', async () => {
    const res = await ai.models.generateContent({ model: 'team/gem:v2', contents: 'Hi' });
    assert.equal(res.text, 'echo:Hi');
    assert.equal(res.modelVersion, 'team/gem:v2');
    const direct = await fetch(`${proxy.url}/v1beta/models/models/gem-text:generateContent?key=${CLIENT_KEY}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contents: [{ parts: [{ text: 'Yo' }] }] }),
    });
    assert.equal(direct.status, 200);
    assert.equal(((await direct.json()) as any).modelVersion, 'gem-text');
  });

  test('streamGenerateContent without alt=sse: one JSON array, streamed', async () => {
    const res = await fetch(`${proxy.url}/v1beta/models/gem-text:streamGenerateContent`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': CLIENT_KEY }, body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Hello' }] }] }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^application\/json/);
    const list = JSON.parse(await res.text());
    assert.equal(list.map((o: any) => o.candidates[0].content.parts.map((p: any) => p.text).join('')).join(''), 'Hello');
    assert.equal(list.at(-1).candidates[0].finishReason, 'STOP');
  });

  test('/v1/ forms: POST /v1/models/{m}:generateContent; GET /v1/models answers Gemini clients in Gemini format', async () => {
    const v1 = new GoogleGenAI({ apiKey: CLIENT_KEY, apiVersion: 'v1', httpOptions: { baseUrl: proxy.url } });
    assert.equal((await v1.models.generateContent({ model: 'gem-text', contents: 'v1' })).text, 'echo:v1');
    const names = [];
    for await (const m of await v1.models.list()) names.push(m.name);
    assert.equal(names[0], 'models/gem-text');
    const openai = (await (await fetch(`${proxy.url}/v1/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).json()) as any;
    assert.equal(openai.object, 'list');
  });
});

describe('Gemini API errors', () => {
  let up: MockUpstream;
  let proxy: TestProxy;
  let ai: GoogleGenAI;

  before(async () => {
    up = await scenarioUpstream();
    proxy = await startProxy({ 'request-retry': 0, 'openai-compatibility': [provider('up', up.url, MODELS.map((m) => ({ name: `${m}-up`, alias: `gem-${m}` })))] });
    ai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: proxy.url } });
  });
  after(async () => {
    await proxy.close();
    await up.close();
  });

  /** The error an SDK call throws, with its JSON body parsed. */
  async function apiError(call: Promise<unknown>): Promise<{ status: number; body: any }> {
    try {
      await call;
    } catch (err) {
      assert.ok(err instanceof ApiError, String(err));
      return { status: err.status, body: JSON.parse(err.message.slice(err.message.indexOf('{'))) };
    }
    assert.fail('expected an ApiError');
  }

  test('a wrong or missing key: 401 UNAUTHENTICATED in Google\'s shape', async () => {
    const bad = new GoogleGenAI({ apiKey: 'wrong', httpOptions: { baseUrl: proxy.url } });
    const { status, body } = await apiError(bad.models.generateContent({ model: 'gem-text', contents: 'x' }));
    assert.equal(status, 401);
    assert.deepEqual(body, { error: { code: 401, message: 'invalid API key', status: 'UNAUTHENTICATED' } });
    const missing = await fetch(`${proxy.url}/v1beta/models`);
    assert.equal(missing.status, 401);
    assert.match(((await missing.json()) as any).error.message, /x-goog-api-key/);
  });

  test('unknown model and unknown path: 404 NOT_FOUND', async () => {
    const { status, body } = await apiError(ai.models.generateContent({ model: 'nope', contents: 'x' }));
    assert.equal(status, 404);
    assert.equal(body.error.status, 'NOT_FOUND');
    assert.match(body.error.message, /models\/nope/);
    const res = await fetch(`${proxy.url}/v1beta/files?key=${CLIENT_KEY}`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as any).error.status, 'NOT_FOUND');
  });

  test('a malformed request: 400 INVALID_ARGUMENT naming the field', async () => {
    const res = await fetch(`${proxy.url}/v1beta/models/gem-text:generateContent`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': CLIENT_KEY }, body: JSON.stringify({ contents: 'Hello' }),
    });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: { code: 400, message: 'contents: must be an array', status: 'INVALID_ARGUMENT' } });
    const escape = await fetch(`${proxy.url}/v1beta/models/%E0%A4%A:generateContent?key=${CLIENT_KEY}`, { method: 'POST', body: '{"contents":[]}' });
    assert.equal(escape.status, 400);
    assert.equal(((await escape.json()) as any).error.status, 'INVALID_ARGUMENT');
    const get = await fetch(`${proxy.url}/v1beta/models/gem-text:generateContent?key=${CLIENT_KEY}`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
  });

  test('upstream errors keep their status and message: 429 RESOURCE_EXHAUSTED', async () => {
    const { status, body } = await apiError(ai.models.generateContent({ model: 'gem-err-429', contents: 'x' }));
    assert.equal(status, 429);
    assert.equal(body.error.status, 'RESOURCE_EXHAUSTED');
    assert.equal(body.error.message, 'Rate limit reached');
    const bad = await apiError(ai.models.generateContent({ model: 'gem-err-400', contents: 'x' }));
    assert.deepEqual(bad.body, { error: { code: 400, message: 'max_tokens is too large', status: 'INVALID_ARGUMENT' } });
  });

  test('a stream that breaks mid-way ends with an error event the SDK throws', async () => {
    const got: string[] = [];
    const { status } = await apiError((async () => {
      for await (const c of await ai.models.generateContentStream({ model: 'gem-broken', contents: 'x' })) got.push(c.text ?? '');
    })());
    assert.equal(status, 502);
    assert.deepEqual(got, ['partial']);
  });
});

describe('Gemini API in metrics and usage statistics', () => {
  test('requests are labelled by route (not by model path) and their tokens counted', async (t) => {
    const up = await scenarioUpstream();
    const dir = await mkdtemp(join(tmpdir(), 'cliproxy-gemini-'));
    const secret = 'gemini-mgmt-secret-0001';
    const proxy = await startProxy({
      'request-retry': 0,
      'usage-statistics-enabled': true,
      'usage-db': join(dir, 'stats.db'),
      'remote-management': { 'secret-key': secret },
      'openai-compatibility': [provider('up', up.url, [{ name: 'text-up', alias: 'gem-text' }])],
    });
    t.after(async () => {
      await proxy.close();
      await up.close();
      await rm(dir, { recursive: true, force: true });
    });
    const ai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: proxy.url } });
    await ai.models.generateContent({ model: 'gem-text', contents: 'a' });
    for await (const _ of await ai.models.generateContentStream({ model: 'gem-text', contents: 'b' }));
    const auth = { authorization: `Bearer ${secret}` };
    const text = await (await fetch(`${proxy.url}/metrics`, { headers: auth })).text();
    for (const method of ['generateContent', 'streamGenerateContent']) {
      assert.match(text, new RegExp(`cliproxy_requests_total\\{endpoint="/v1beta/models/\\{model\\}:${method}",model="gem-text",provider="up",status="200"\\} 1`));
    }
    let usage: any;
    for (let i = 0; i < 50 && usage?.total_requests !== 2; i++) {
      await sleep(50);
      usage = ((await (await fetch(`${proxy.url}/v0/management/usage`, { headers: auth })).json()) as any).usage;
    }
    assert.equal(usage.total_requests, 2);
    assert.equal(usage.total_tokens, 13 + 13, 'both the body and the stream reported usage');
  });

  test('request logs mask a key sent as ?key= (and as x-goog-api-key)', async (t) => {
    const up = await scenarioUpstream();
    const proxy = await startProxy({ 'request-retry': 0, 'request-log': true, 'openai-compatibility': [provider('up', up.url, [{ name: 'text-up', alias: 'gem-text' }])] });
    t.after(async () => {
      await proxy.close();
      await up.close();
    });
    const body = JSON.stringify({ contents: [{ parts: [{ text: 'log me' }] }] });
    const byQuery = await fetch(`${proxy.url}/v1beta/models/gem-text:generateContent?alt=json&key=${CLIENT_KEY}`, { method: 'POST', body });
    const byHeader = await fetch(`${proxy.url}/v1beta/models/gem-text:streamGenerateContent?alt=sse`, { method: 'POST', body, headers: { 'x-goog-api-key': CLIENT_KEY } });
    await Promise.all([byQuery.text(), byHeader.text()]);
    const dir = join(proxy.dir, 'logs');
    for (const res of [byQuery, byHeader]) {
      const id = res.headers.get('x-request-id')!;
      let text = '';
      for (let i = 0; i < 50 && !text.includes('=== end:'); i++) {
        await sleep(50);
        const name = (await readdir(dir).catch(() => [] as string[])).find((n) => n.endsWith(`-${id}.log`));
        text = name ? await readFile(join(dir, name), 'utf8') : '';
      }
      assert.match(text, /log me/);
      assert.ok(!text.includes(CLIENT_KEY), 'the client key in clear in a request log');
      assert.match(text, /sk-cli\.\.\.0001/);
    }
  });
});

describe('recorded Gemini CLI 0.61.0 requests replayed through the gateway', () => {
  const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/clients/${name}.json`, import.meta.url), 'utf8'));

  test('first turn and tool turn: SSE objects back, chat requests upstream', async (t) => {
    const up = await scenarioUpstream();
    const proxy = await startProxy({ 'request-retry': 0, 'openai-compatibility': [provider('up', up.url, [{ name: 'tools-up', alias: 'my-alias' }])] });
    t.after(async () => {
      await proxy.close();
      await up.close();
    });
    const replay = async (name: string) => {
      const { method, path, headers, body } = fixture(name);
      const res = await fetch(`${proxy.url}${path}`, { method, headers: { ...headers, 'x-goog-api-key': CLIENT_KEY }, body: JSON.stringify(body) });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/event-stream');
      const text = await res.text();
      assert.ok(text.endsWith('\r\n\r\n'));
      return text.split('\r\n\r\n').filter(Boolean).map((e) => JSON.parse(e.slice('data: '.length)));
    };
    const first = await replay('gemini-cli-first-turn');
    const parts = first.flatMap((o: any) => o.candidates[0].content.parts);
    assert.deepEqual(parts, [{ functionCall: { id: 'call_paris', name: 'get_weather', args: { city: 'Paris' } } }]);
    assert.equal(first.at(-1).candidates[0].finishReason, 'STOP');
    assert.deepEqual(first.at(-1).usageMetadata, { promptTokenCount: 20, candidatesTokenCount: 5, totalTokenCount: 25 });
    assert.equal(up.requests.at(-1)!.json.tools.length, 3);

    const second = await replay('gemini-cli-tool-turn');
    assert.match(second[0].candidates[0].content.parts[0].text, /^It is <untrusted_context>\nOutput: hi-from-shell/);
    const sent = up.requests.at(-1)!.json;
    assert.equal(sent.messages.at(-1).tool_call_id, 'run_shell_command_1795970709038_0');
  });
});
