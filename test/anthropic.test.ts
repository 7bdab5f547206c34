/**
 * The Anthropic Messages API end to end: the official @anthropic-ai/sdk as client, the real
 * gateway, and loopback OpenAI-compatible upstreams (so Claude Code works on any provider).
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { estimateInputTokens } from '../src/translate/anthropic/tokens.js';
import { CLIENT_KEY, post, provider, startProxy, type TestProxy } from './helpers/proxy.js';
import { completion, error, json, mockUpstream, sleep, sse, type MockUpstream, type Recorded } from './helpers/upstream.js';

const ID = 'chatcmpl-test';

/** A chunk with any delta (helpers/upstream's chunk() only does content). */
const delta = (model: string, d: Record<string, unknown>, finish: string | null = null) => ({
  id: ID, object: 'chat.completion.chunk', created: 1700000000, model, choices: [{ index: 0, delta: d, finish_reason: finish }],
});
const usageChunk = (model: string, prompt: number, completionTokens: number) => ({
  id: ID, object: 'chat.completion.chunk', created: 1700000000, model, choices: [], usage: { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens },
});

const CALLS = [
  { id: 'call_paris', name: 'get_weather', fragments: ['{"ci', 'ty": "Pa', 'ris"}'] },
  { id: 'call_rome', name: 'get_weather', fragments: ['{"city":', ' "Rome", ', '"unit": "c"}'] },
];

/** Text, then two parallel tool calls whose arguments arrive in fragments. */
function toolChunks(model: string): unknown[] {
  const out: unknown[] = [delta(model, { role: 'assistant', content: null }), delta(model, { content: 'Checking both.' })];
  CALLS.forEach((c, index) => {
    out.push(delta(model, { tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] }));
    for (const f of c.fragments) out.push(delta(model, { tool_calls: [{ index, function: { arguments: f } }] }));
  });
  out.push(delta(model, {}, 'tool_calls'), usageChunk(model, 120, 45));
  return out;
}

function toolCompletion(model: string) {
  const tool_calls = CALLS.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.fragments.join('') } }));
  return completion('Checking both.', model, {
    choices: [{ index: 0, message: { role: 'assistant', content: 'Checking both.', tool_calls }, finish_reason: 'tool_calls' }],
    usage: { prompt_tokens: 120, completion_tokens: 45, total_tokens: 165 },
  });
}

/** The text of the last OpenAI message the upstream received. */
function lastText(r: Recorded): string {
  const content = r.json.messages.at(-1).content;
  return typeof content === 'string' ? content : content.filter((p: any) => p.type === 'text').map((p: any) => p.text).join('');
}

/** One upstream, one behaviour per upstream model name. */
async function scenarioUpstream(): Promise<MockUpstream> {
  return mockUpstream((req, res, r) => {
    const model: string = r.json?.model ?? '';
    const stream = r.json?.stream === true;
    switch (model) {
      case 'text-up':
        if (stream) return sse([delta(model, { role: 'assistant', content: '' }), delta(model, { content: 'Hel' }), delta(model, { content: 'lo' }), delta(model, {}, 'stop'), usageChunk(model, 11, 2)])(req, res, r);
        return json(completion(`echo:${lastText(r)}`, model, { usage: { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 } }))(req, res, r);
      case 'tools-up':
        return stream ? sse(toolChunks(model))(req, res, r) : json(toolCompletion(model))(req, res, r);
      case 'length-up':
        if (stream) return sse([delta(model, { content: 'Once upon a' }), delta(model, {}, 'length'), usageChunk(model, 9, 4)])(req, res, r);
        return json(completion('Once upon a', model, { choices: [{ index: 0, message: { role: 'assistant', content: 'Once upon a' }, finish_reason: 'length' }] }))(req, res, r);
      case 'reason-up':
        return sse([delta(model, { reasoning_content: 'Short answer.' }), delta(model, { content: '42' }), delta(model, {}, 'stop'), usageChunk(model, 8, 6)])(req, res, r);
      case 'strict-up': // OpenAI's answer to reasoning_effort on a model without reasoning
        if (r.json.reasoning_effort) return error(400, 'Unrecognized request argument supplied: reasoning_effort', 'invalid_request_error')(req, res, r);
        return json(completion('no reasoning here', model))(req, res, r);
      case 'json-up': // ignores `stream`: always a plain JSON answer
        return json(completion('plain answer', model))(req, res, r);
      case 'broken-up':
        return (async () => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify(delta(model, { content: 'partial' }))}\n\n`);
          await sleep(30);
          res.socket?.destroy();
        })();
      case 'err-400-up':
        return error(400, 'max_tokens is too large for this model', 'invalid_request_error')(req, res, r);
      case 'err-429-up':
        return error(429, 'Rate limit reached', 'rate_limit_exceeded', { 'retry-after': '7' })(req, res, r);
      case 'err-529-up':
        return error(529, 'Overloaded', 'overloaded')(req, res, r);
      case 'err-500-up':
        return error(500, 'boom', 'server_error')(req, res, r);
      default:
        return error(404, `no model ${model}`)(req, res, r);
    }
  });
}

const MODELS = ['text', 'tools', 'length', 'reason', 'strict', 'json', 'broken', 'err-400', 'err-429', 'err-529', 'err-500'];

/** The SDK's stream helper adds `parsed_output: null` (structured outputs); the wire message has none. */
function withoutParsed<T extends object>(message: T): Omit<T, 'parsed_output'> {
  const { parsed_output, ...rest } = message as T & { parsed_output?: unknown };
  assert.equal(parsed_output ?? null, null);
  return rest;
}

/** Raw SSE wire text → [event, data] pairs. */
function wireEvents(text: string): Array<[string, any]> {
  return text
    .split('\n\n')
    .filter((b) => b.trim())
    .map((b) => {
      const [eventLine, dataLine] = b.split('\n');
      return [eventLine!.replace('event: ', ''), JSON.parse(dataLine!.replace('data: ', ''))];
    });
}

const USER = [{ role: 'user' as const, content: 'Hello' }];

describe('Anthropic Messages API with the official SDK', () => {
  let up: MockUpstream;
  let proxy: TestProxy;
  let client: Anthropic;

  before(async () => {
    up = await scenarioUpstream();
    proxy = await startProxy({
      'request-retry': 0,
      'openai-compatibility': [provider('up', up.url, MODELS.map((m) => ({ name: `${m}-up`, alias: `claude-${m}` })))],
    });
    client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: proxy.url, maxRetries: 0 });
  });
  after(async () => {
    await proxy.close();
    await up.close();
  });

  test('plain text: an Anthropic message back, an OpenAI chat request upstream', async () => {
    const { data: message, response } = await client.messages
      // temperature is still accepted by the API; this SDK's types no longer list it.
      .create({ model: 'claude-text', max_tokens: 256, messages: USER, ...({ temperature: 0.5 } as object) })
      .withResponse();
    assert.deepEqual(message, {
      id: `msg_${ID}`, type: 'message', role: 'assistant', model: 'claude-text',
      content: [{ type: 'text', text: 'echo:Hello' }],
      stop_reason: 'end_turn', stop_sequence: null, stop_details: null,
      usage: { input_tokens: 11, output_tokens: 2, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
    assert.equal(response.headers.get('x-cliproxy-provider'), 'up');
    assert.ok(response.headers.get('request-id'));
    const got = up.requests.at(-1)!;
    assert.equal(got.path, '/v1/chat/completions');
    assert.equal(got.headers.authorization, 'Bearer sk-up-upstream-key-1234');
    assert.deepEqual(got.json, { model: 'text-up', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 256, temperature: 0.5 });
  });

  test('system prompt (string or blocks) becomes the first system message', async () => {
    await client.messages.create({ model: 'claude-text', max_tokens: 16, system: 'Be brief.', messages: USER });
    assert.deepEqual(up.requests.at(-1)!.json.messages[0], { role: 'system', content: 'Be brief.' });
    await client.messages.create({
      model: 'claude-text', max_tokens: 16, messages: USER,
      system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'Use French.' }],
    });
    assert.deepEqual(up.requests.at(-1)!.json.messages.slice(0, 2), [{ role: 'system', content: 'Be brief.\n\nUse French.' }, { role: 'user', content: 'Hello' }]);
  });

  test('multi-turn with tool_use → tool_result; tool calls come back as tool_use blocks', async () => {
    const tools: Anthropic.Tool[] = [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];
    const first = await client.messages.create({ model: 'claude-tools', max_tokens: 256, tools, tool_choice: { type: 'auto' }, messages: [{ role: 'user', content: 'Paris and Rome?' }] });
    assert.equal(first.stop_reason, 'tool_use');
    assert.deepEqual(first.content, [
      { type: 'text', text: 'Checking both.' },
      { type: 'tool_use', id: 'call_paris', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_rome', name: 'get_weather', input: { city: 'Rome', unit: 'c' } },
    ]);
    assert.deepEqual(up.requests.at(-1)!.json.tools, [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: tools[0]!.input_schema } }]);
    assert.equal(up.requests.at(-1)!.json.tool_choice, 'auto');

    const second = await client.messages.create({
      model: 'claude-text', max_tokens: 256, tools,
      messages: [
        { role: 'user', content: 'Paris and Rome?' },
        { role: 'assistant', content: first.content },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_paris', content: '18°C' },
            { type: 'tool_result', tool_use_id: 'call_rome', content: [{ type: 'text', text: '25°C' }] },
            { type: 'text', text: 'Summarise.' },
          ],
        },
      ],
    });
    assert.deepEqual(up.requests.at(-1)!.json.messages, [
      { role: 'user', content: 'Paris and Rome?' },
      {
        role: 'assistant', content: 'Checking both.',
        tool_calls: [
          { id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_rome', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome","unit":"c"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_paris', content: '18°C' },
      { role: 'tool', tool_call_id: 'call_rome', content: '25°C' },
      { role: 'user', content: 'Summarise.' },
    ]);
    assert.deepEqual(second.content, [{ type: 'text', text: 'echo:Summarise.' }]);
  });

  test('stream: parallel tool calls with fragmented arguments; finalMessage() equals the plain answer', async () => {
    const params = { model: 'claude-tools', max_tokens: 256, messages: [{ role: 'user' as const, content: 'Paris and Rome?' }] };
    const stream = client.messages.stream(params);
    const fragments: string[] = [];
    const blocks: string[] = [];
    stream.on('inputJson', (partial) => fragments.push(partial));
    stream.on('contentBlock', (block) => blocks.push(block.type));
    const streamed = withoutParsed(await stream.finalMessage());
    const sent = up.requests.at(-1)!.json;
    assert.equal(sent.stream, true);
    assert.deepEqual(sent.stream_options, { include_usage: true });
    assert.deepEqual(fragments, CALLS.flatMap((c) => c.fragments), 'each upstream fragment is one input_json_delta');
    assert.deepEqual(blocks, ['text', 'tool_use', 'tool_use']);
    const plain = await client.messages.create(params);
    assert.deepEqual(streamed, plain);
    assert.deepEqual(streamed, {
      id: `msg_${ID}`, type: 'message', role: 'assistant', model: 'claude-tools',
      content: [
        { type: 'text', text: 'Checking both.' },
        { type: 'tool_use', id: 'call_paris', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'call_rome', name: 'get_weather', input: { city: 'Rome', unit: 'c' } },
      ],
      stop_reason: 'tool_use', stop_sequence: null, stop_details: null,
      usage: { input_tokens: 120, output_tokens: 45, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
  });

  test('stream on the wire: event lines, a ping right after message_start, usage in message_delta', async () => {
    const res = await post(`${proxy.baseURL}/messages`, { model: 'claude-text', max_tokens: 32, stream: true, messages: USER }, { 'anthropic-version': '2023-06-01' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const events = wireEvents(await res.text());
    assert.deepEqual(events.map(([e]) => e), [
      'message_start', 'ping', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
    ]);
    for (const [name, data] of events) assert.equal(data.type, name);
    assert.deepEqual(events[6]![1].usage, { input_tokens: 11, output_tokens: 2, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
    // message_start carries the estimate until the upstream's figure arrives.
    assert.equal(events[0]![1].message.usage.input_tokens, estimateInputTokens({ messages: USER }));
  });

  test('image input (base64 and URL) reaches the upstream as image_url parts', async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    const message = await client.messages.create({
      model: 'claude-text', max_tokens: 64,
      messages: [{
        role: 'user',
        content: [
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
          { type: 'text', text: 'Describe both.' },
        ],
      }],
    });
    assert.deepEqual(up.requests.at(-1)!.json.messages, [{
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
        { type: 'text', text: 'Describe both.' },
      ],
    }]);
    assert.deepEqual(message.content, [{ type: 'text', text: 'echo:Describe both.' }]);
  });

  test('max_tokens stop: finish_reason length becomes stop_reason max_tokens, plain and streamed', async () => {
    const plain = await client.messages.create({ model: 'claude-length', max_tokens: 4, messages: USER });
    assert.equal(plain.stop_reason, 'max_tokens');
    assert.equal(up.requests.at(-1)!.json.max_tokens, 4);
    const streamed = await client.messages.stream({ model: 'claude-length', max_tokens: 4, messages: USER }).finalMessage();
    assert.equal(streamed.stop_reason, 'max_tokens');
    assert.deepEqual(streamed.content, [{ type: 'text', text: 'Once upon a' }]);
    assert.equal(streamed.usage.output_tokens, 4);
  });

  test('thinking maps to reasoning_effort; reasoning comes back as a thinking block', async () => {
    const message = await client.messages
      .stream({ model: 'claude-reason', max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 }, messages: USER })
      .finalMessage();
    assert.equal(up.requests.at(-1)!.json.reasoning_effort, 'low');
    assert.deepEqual(message.content, [{ type: 'thinking', thinking: 'Short answer.', signature: '' }, { type: 'text', text: '42' }]);
  });

  test('thinking is ignored safely where the upstream model has no reasoning setting', async () => {
    const before = up.requests.length;
    const message = await client.messages.create({ model: 'claude-strict', max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 31_999 }, messages: USER });
    assert.deepEqual(message.content, [{ type: 'text', text: 'no reasoning here' }]);
    const sent = up.requests.slice(before).map((r) => r.json.reasoning_effort);
    assert.deepEqual(sent, ['high', undefined], 'asked once with reasoning_effort, then once without');
  });

  test('an upstream that answers a stream request with plain JSON still gives a proper stream', async () => {
    const message = await client.messages.stream({ model: 'claude-json', max_tokens: 16, messages: USER }).finalMessage();
    assert.deepEqual(message.content, [{ type: 'text', text: 'plain answer' }]);
    assert.equal(message.stop_reason, 'end_turn');
  });

  test('upstream errors map to Anthropic error types with the upstream status and message', async () => {
    const cases: Array<[string, number, string, string]> = [
      ['claude-err-400', 400, 'invalid_request_error', 'max_tokens is too large for this model'],
      ['claude-err-429', 429, 'rate_limit_error', 'Rate limit reached'],
      ['claude-err-529', 529, 'overloaded_error', 'Overloaded'],
      ['claude-err-500', 500, 'api_error', 'boom'],
      ['claude-nope', 404, 'not_found_error', "The model 'claude-nope' does not exist or is not served by this proxy (see GET /v1/models)"],
    ];
    for (const [model, status, type, message] of cases) {
      await assert.rejects(client.messages.create({ model, max_tokens: 8, messages: USER }), (e: any) => {
        assert.ok(e instanceof Anthropic.APIError, model);
        assert.equal(e.status, status, model);
        assert.deepEqual(e.error, { type: 'error', error: { type, message } }, model);
        if (status === 429) assert.equal(e.headers.get('retry-after'), '7');
        return true;
      });
    }
  });

  test('client errors are Anthropic-shaped too: bad key, bad body, wrong method', async () => {
    const stranger = new Anthropic({ apiKey: 'sk-wrong', baseURL: proxy.url, maxRetries: 0 });
    await assert.rejects(stranger.messages.create({ model: 'claude-text', max_tokens: 8, messages: USER }), (e: any) => e.status === 401 && e.error.error.type === 'authentication_error');
    // Strict only where the translation must read: a text block without text.
    const bad = await post(`${proxy.baseURL}/messages`, { model: 'claude-text', max_tokens: 8, messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }] });
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), { type: 'error', error: { type: 'invalid_request_error', message: 'messages.0.content.0.text: must be a string' } });
    const notJson = await post(`${proxy.baseURL}/messages`, '{oops');
    assert.equal(((await notJson.json()) as any).error.type, 'invalid_request_error');
    const get = await fetch(`${proxy.baseURL}/messages`, { headers: { 'x-api-key': CLIENT_KEY } });
    assert.equal(get.status, 405);
    assert.equal(((await get.json()) as any).type, 'error');
  });

  test('an upstream that dies mid-stream ends the stream with an error event', async () => {
    const stream = client.messages.stream({ model: 'claude-broken', max_tokens: 8, messages: USER });
    const texts: string[] = [];
    stream.on('text', (t) => texts.push(t));
    await assert.rejects(stream.finalMessage(), (e: any) => e instanceof Anthropic.APIError && e.error?.error?.type === 'api_error' && /mid-stream/.test(e.error.error.message));
    assert.deepEqual(texts, ['partial']);
    const raw = await post(`${proxy.baseURL}/messages`, { model: 'claude-broken', max_tokens: 8, stream: true, messages: USER });
    const events = wireEvents(await raw.text());
    assert.equal(events.at(-1)![0], 'error');
    assert.equal(events.filter(([e]) => e === 'message_stop').length, 0);
  });

  test('count_tokens answers the documented estimate', async () => {
    const body = {
      model: 'claude-text',
      system: 'You are a careful assistant.',
      messages: [{ role: 'user' as const, content: 'How many tokens is this? '.repeat(40) }],
      tools: [{ name: 'ls', input_schema: { type: 'object' as const, properties: {} } }],
    };
    const count = await client.messages.countTokens(body);
    assert.equal(count.input_tokens, estimateInputTokens(body));
    assert.ok(count.input_tokens > 250 && count.input_tokens < 400, String(count.input_tokens));
    await assert.rejects(client.messages.countTokens({ ...body, model: 'claude-nope' }), (e: any) => e.status === 404 && e.error.error.type === 'not_found_error');
  });

  test('GET /v1/models in Anthropic format for Anthropic clients, paginated by the SDK', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list({ limit: 3 })) {
      assert.equal(m.type, 'model');
      assert.equal(m.display_name, m.id);
      assert.ok(!Number.isNaN(Date.parse(m.created_at)));
      ids.push(m.id);
    }
    assert.deepEqual(ids, MODELS.map((m) => `claude-${m}`));
    const page = (await (await fetch(`${proxy.baseURL}/models?limit=2&after_id=claude-tools`, { headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' } })).json()) as any;
    assert.deepEqual(page, {
      data: page.data, has_more: true, first_id: 'claude-length', last_id: 'claude-reason',
    });
    assert.equal((await client.models.retrieve('claude-json')).id, 'claude-json');
    // Without the header: the OpenAI list, unchanged.
    const openai = (await (await fetch(`${proxy.baseURL}/models`, { headers: { 'x-api-key': CLIENT_KEY } })).json()) as any;
    assert.equal(openai.object, 'list');
  });

  test('Bearer auth works as well as x-api-key', async () => {
    const bearer = new Anthropic({ apiKey: null, authToken: CLIENT_KEY, baseURL: proxy.url, maxRetries: 0 });
    const message = await bearer.messages.create({ model: 'claude-text', max_tokens: 8, messages: USER });
    assert.deepEqual(message.content, [{ type: 'text', text: 'echo:Hello' }]);
  });
});

describe('Anthropic Messages API: routing', () => {
  test('failover in a pool: a failing member is skipped, plain and streamed', async (t) => {
    const bad = await mockUpstream(error(503, 'down for maintenance'));
    const good = await mockUpstream((req, res, r) =>
      r.json.stream
        ? sse([delta(r.json.model, { content: 'from good' }), delta(r.json.model, {}, 'stop'), usageChunk(r.json.model, 3, 2)])(req, res, r)
        : json(completion('from good', r.json.model))(req, res, r),
    );
    const proxy = await startProxy({
      'openai-compatibility': [
        provider('bad', bad.url, [{ name: 'm-bad', alias: 'claude-pool' }, { name: 'm-bad-2', alias: 'claude-pool-stream' }]),
        provider('good', good.url, [{ name: 'm-good', alias: 'claude-pool' }, { name: 'm-good-2', alias: 'claude-pool-stream' }]),
      ],
    });
    t.after(() => Promise.all([proxy.close(), bad.close(), good.close()]));
    const client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: proxy.url, maxRetries: 0 });
    const { data, response } = await client.messages.create({ model: 'claude-pool', max_tokens: 8, messages: USER }).withResponse();
    assert.deepEqual(data.content, [{ type: 'text', text: 'from good' }]);
    assert.equal(response.headers.get('x-cliproxy-provider'), 'good');
    assert.equal(response.headers.get('x-cliproxy-attempts'), '2');
    assert.equal(bad.requests.length, 1);
    const streamed = await client.messages.stream({ model: 'claude-pool-stream', max_tokens: 8, messages: USER }).finalMessage();
    assert.deepEqual(streamed.content, [{ type: 'text', text: 'from good' }]);
    assert.equal(bad.requests.length, 2, 'the stream tried the bad member first too');
    assert.equal(bad.requests[1]!.json.model, 'm-bad-2');
  });

  test('a stream aborted by the client closes the upstream connection', async (t) => {
    let sent = 0;
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
    const up = await mockUpstream(async (_req, res: ServerResponse, r) => {
      res.on('close', () => upstreamClosed());
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < 200 && !res.destroyed; i++) {
        res.write(`data: ${JSON.stringify(delta(r.json.model, { content: `t${i} ` }))}\n\n`);
        sent++;
        await sleep(20);
      }
      res.end('data: [DONE]\n\n');
    });
    const proxy = await startProxy({ 'openai-compatibility': [provider('slow', up.url, [{ name: 'slow-up', alias: 'claude-slow' }])] });
    t.after(() => Promise.all([proxy.close(), up.close()]));
    const client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: proxy.url, maxRetries: 0 });
    const stream = client.messages.stream({ model: 'claude-slow', max_tokens: 8, messages: USER });
    let texts = 0;
    stream.on('text', () => {
      if (++texts === 3) stream.abort();
    });
    await assert.rejects(stream.finalMessage(), (e: any) => e instanceof Anthropic.APIUserAbortError);
    await Promise.race([closed, sleep(3000).then(() => assert.fail('upstream connection still open 3 s after the client left'))]);
    assert.ok(sent < 100, `upstream stopped early (sent ${sent} of 200 chunks)`);
  });
});
