/**
 * The Responses API end to end: the official openai SDK (`responses.create`, `responses.stream`,
 * `responses.parse`, retrieve/delete) as client, the real gateway, and loopback OpenAI-compatible
 * chat upstreams — so Codex CLI and Responses SDK users work on any provider.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { CLIENT_KEY, post, provider, startProxy, type TestProxy } from './helpers/proxy.js';
import { completion, error, json, mockUpstream, sleep, sse, type MockUpstream, type Recorded } from './helpers/upstream.js';

const delta = (model: string, d: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-r', object: 'chat.completion.chunk', created: 1700000000, model, choices: [{ index: 0, delta: d, finish_reason: finish }],
});
const usageChunk = (model: string, prompt: number, out: number) => ({ id: 'chatcmpl-r', object: 'chat.completion.chunk', model, choices: [], usage: { prompt_tokens: prompt, completion_tokens: out, total_tokens: prompt + out } });

/** The last tool message the upstream received, if the conversation ends with one. */
const toolResult = (r: Recorded): string | undefined => (r.json.messages.at(-1).role === 'tool' ? r.json.messages.at(-1).content : undefined);

/** One upstream, one behaviour per upstream model name. */
function scenarios(): Promise<MockUpstream> {
  return mockUpstream((req, res, r) => {
    const model: string = r.json?.model ?? '';
    const stream = r.json?.stream === true;
    const last = r.json?.messages?.at(-1);
    switch (model) {
      case 'text-up': {
        const text = `echo:${typeof last?.content === 'string' ? last.content : ''}`;
        if (stream) return sse([delta(model, { role: 'assistant', content: '' }), delta(model, { content: text.slice(0, 5) }), delta(model, { content: text.slice(5) }), delta(model, {}, 'stop'), usageChunk(model, 11, 4)])(req, res, r);
        return json(completion(text, model, { usage: { prompt_tokens: 11, completion_tokens: 4, total_tokens: 15, prompt_tokens_details: { cached_tokens: 6 } } }))(req, res, r);
      }
      case 'weather-up': {
        // a function-tool loop: ask for the tool until its result comes back, then answer with it
        const result = toolResult(r);
        if (result !== undefined) {
          if (stream) return sse([delta(model, { content: `It is ${result}.` }), delta(model, {}, 'stop'), usageChunk(model, 30, 5)])(req, res, r);
          return json(completion(`It is ${result}.`, model))(req, res, r);
        }
        const call = { id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };
        if (stream) {
          return sse([
            delta(model, { tool_calls: [{ index: 0, ...call, function: { name: 'get_weather', arguments: '' } }] }),
            delta(model, { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
            delta(model, { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
            delta(model, {}, 'tool_calls'),
            usageChunk(model, 20, 8),
          ])(req, res, r);
        }
        return json(completion('', model, { choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [call] }, finish_reason: 'tool_calls' }] }))(req, res, r);
      }
      case 'json-up':
        return json(completion('{"city":"Paris","temperature":21}', model))(req, res, r);
      case 'length-up':
        return sse([delta(model, { content: 'Once upon a' }), delta(model, {}, 'length'), usageChunk(model, 9, 4)])(req, res, r);
      case 'broken-up':
        return (async () => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify(delta(model, { content: 'partial' }))}\n\n`);
          await sleep(30);
          res.socket?.destroy();
        })();
      case 'reject-up':
        return error(400, "Invalid value for 'temperature'", 'invalid_request_error')(req, res, r);
      case 'o-series-up': // OpenAI's answer to max_tokens on a reasoning model
        if (r.json.max_tokens !== undefined) return error(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", 'invalid_request_error')(req, res, r);
        return json(completion(`limit ${r.json.max_completion_tokens}`, model))(req, res, r);
      default:
        return error(500, `unknown scenario ${model}`)(req, res, r);
    }
  });
}

describe('Responses API through the openai SDK', () => {
  let upstream: MockUpstream;
  let down: MockUpstream;
  let proxy: TestProxy;
  let client: OpenAI;

  before(async () => {
    upstream = await scenarios();
    down = await mockUpstream(error(503, 'overloaded'));
    const models = ['text-up', 'weather-up', 'json-up', 'length-up', 'broken-up', 'reject-up', 'o-series-up'].map((name) => ({ name, alias: name.replace('-up', '') }));
    proxy = await startProxy({
      metrics: { public: true },
      'openai-compatibility': [provider('down', down.url, [{ name: 'text-up', alias: 'pooled' }]), provider('up', upstream.url, [...models, { name: 'text-up', alias: 'pooled' }])],
    });
    client = new OpenAI({ baseURL: proxy.baseURL, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  after(() => Promise.all([proxy.close(), upstream.close(), down.close()]));

  test('responses.create: a response object, usage with cached tokens, routing headers, instructions as system', async () => {
    const { data, response } = await client.responses.create({ model: 'text', instructions: 'Be brief.', input: 'Hello' }).withResponse();
    assert.equal(data.object, 'response');
    assert.match(data.id, /^resp_/);
    assert.equal(data.status, 'completed');
    assert.equal(data.model, 'text');
    assert.equal(data.output_text, 'echo:Hello');
    assert.deepEqual(data.usage, { input_tokens: 11, input_tokens_details: { cached_tokens: 6 }, output_tokens: 4, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 });
    assert.equal(response.headers.get('x-cliproxy-provider'), 'up');
    assert.equal(response.headers.get('x-cliproxy-attempts'), '1');
    const sent = upstream.requests.at(-1)!.json;
    assert.deepEqual(sent.messages, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }]);
    assert.equal(sent.model, 'text-up');
  });

  test('responses.stream: text deltas, a final response, sequence numbers in order', async () => {
    const stream = client.responses.stream({ model: 'text', input: 'Stream me' });
    const deltas: string[] = [];
    const sequence: number[] = [];
    stream.on('event', (e) => sequence.push(e.sequence_number));
    stream.on('response.output_text.delta', (e) => deltas.push(e.delta));
    const final = await stream.finalResponse();
    assert.deepEqual(deltas, ['echo:', 'Stream me']);
    assert.equal(final.output_text, 'echo:Stream me');
    assert.equal(final.usage?.output_tokens, 4);
    assert.deepEqual(sequence, sequence.map((_, i) => i));
    assert.equal(upstream.requests.at(-1)!.json.stream_options.include_usage, true);
  });

  test('a function-tool loop, streamed, continued by previous_response_id', async () => {
    const tools: OpenAI.Responses.Tool[] = [{ type: 'function', name: 'get_weather', description: 'Weather now', strict: false, parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];
    const events: string[] = [];
    const stream = await client.responses.create({ model: 'weather', input: 'Weather in Paris?', tools, stream: true });
    let first: OpenAI.Responses.Response | undefined;
    for await (const e of stream) {
      events.push(e.type);
      if (e.type === 'response.completed') first = e.response;
    }
    assert.ok(events.includes('response.function_call_arguments.delta'));
    const call = first!.output.find((o) => o.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    assert.equal(call.name, 'get_weather');
    assert.equal(call.call_id, 'call_w1');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
    // only the new item goes up: the gateway replays the stored conversation
    const second = await client.responses.create({ model: 'weather', previous_response_id: first!.id, tools, input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny, 21°C' }] });
    assert.equal(second.output_text, 'It is sunny, 21°C.');
    assert.equal(second.previous_response_id, first!.id);
    const sent = upstream.requests.at(-1)!.json;
    assert.deepEqual(sent.messages.map((m: any) => m.role), ['user', 'assistant', 'tool']);
    assert.equal(sent.messages[0].content, 'Weather in Paris?');
    assert.equal(sent.messages[1].tool_calls[0].id, 'call_w1');
    // what the second response was given: the question, the call, the output (newest first)
    const items = [];
    for await (const item of client.responses.inputItems.list(second.id)) items.push(item);
    assert.deepEqual(items.map((i) => i.type), ['function_call_output', 'function_call', 'message']);
    const oldestFirst = await client.responses.inputItems.list(second.id, { order: 'asc', limit: 1 });
    assert.equal(oldestFirst.data.length, 1);
    assert.equal(oldestFirst.data[0]!.type, 'message');
    assert.equal(oldestFirst.has_more, true);
  });

  test('a function-tool loop without store: the client sends the whole conversation', async () => {
    const tools: OpenAI.Responses.Tool[] = [{ type: 'function', name: 'get_weather', strict: true, parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false } }];
    const input: OpenAI.Responses.ResponseInput = [{ role: 'user', content: 'Weather?' }];
    const first = await client.responses.create({ model: 'weather', input, tools, store: false });
    const call = first.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    assert.equal(call.type, 'function_call');
    const second = await client.responses.create({ model: 'weather', tools, store: false, input: [...input, ...(first.output as OpenAI.Responses.ResponseInputItem[]), { type: 'function_call_output', call_id: call.call_id, output: 'rainy' }] });
    assert.equal(second.output_text, 'It is rainy.');
    await assert.rejects(client.responses.retrieve(first.id), (e: unknown) => e instanceof OpenAI.NotFoundError);
  });

  test('structured output: text.format json_schema → response_format, parsed by responses.parse', async () => {
    const Weather = z.object({ city: z.string(), temperature: z.number() });
    const parsed = await client.responses.parse({ model: 'json', input: 'Weather as JSON', text: { format: zodTextFormat(Weather, 'weather') } });
    assert.deepEqual(parsed.output_parsed, { city: 'Paris', temperature: 21 });
    const format = upstream.requests.at(-1)!.json.response_format;
    assert.equal(format.type, 'json_schema');
    assert.equal(format.json_schema.name, 'weather');
    assert.equal(format.json_schema.strict, true);
    assert.deepEqual(Object.keys(format.json_schema.schema.properties), ['city', 'temperature']);
  });

  test('stored responses: retrieve and delete; unknown previous_response_id is the API\'s 400', async () => {
    const created = await client.responses.create({ model: 'text', input: 'keep me' });
    const got = await client.responses.retrieve(created.id);
    assert.equal(got.output_text, 'echo:keep me');
    const other = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'nope', maxRetries: 0 });
    await assert.rejects(other.responses.retrieve(created.id), (e: unknown) => e instanceof OpenAI.AuthenticationError);
    await client.responses.delete(created.id);
    await assert.rejects(client.responses.retrieve(created.id), (e: unknown) => e instanceof OpenAI.NotFoundError);
    await assert.rejects(client.responses.create({ model: 'text', input: 'x', previous_response_id: created.id }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.code, 'previous_response_not_found');
      assert.equal(e.param, 'previous_response_id');
      assert.equal((e.error as any).type, 'invalid_request_error');
      return true;
    });
  });

  test('finish_reason length → response.incomplete; upstream failure mid-stream → response.failed', async () => {
    const incomplete = client.responses.stream({ model: 'length', input: 'tell a story' });
    let status = '';
    for await (const e of incomplete) if (e.type === 'response.incomplete') status = `${e.response.status}/${e.response.incomplete_details?.reason}`;
    assert.equal(status, 'incomplete/max_output_tokens');

    const broken = await client.responses.create({ model: 'broken', input: 'x', stream: true });
    const seen: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const e of broken) seen.push(e);
    const failed = seen.at(-1)!;
    assert.equal(failed.type, 'response.failed');
    assert.equal(failed.type === 'response.failed' && failed.response.error?.code, 'upstream_stream_error');
    assert.ok(seen.some((e) => e.type === 'response.output_text.delta' && e.delta === 'partial'));
  });

  test('upstream errors before the stream keep their status and OpenAI shape; max_tokens is retried as max_completion_tokens', async () => {
    await assert.rejects(client.responses.create({ model: 'reject', input: 'x' }), (e: unknown) => e instanceof OpenAI.BadRequestError && /temperature/.test(e.message));
    const limited = await client.responses.create({ model: 'o-series', input: 'x', max_output_tokens: 77 });
    assert.equal(limited.output_text, 'limit 77');
  });

  test('pools fail over before the first byte', async () => {
    // round-robin over a 503-ing member and a good one: one of two requests meets the bad one first
    const attempts: string[] = [];
    for (const stream of [false, true]) {
      const { data, response } = await client.responses.create({ model: 'pooled', input: 'hi', stream }).withResponse();
      let text = '';
      if (!stream) text = (data as OpenAI.Responses.Response).output_text;
      else for await (const e of data as AsyncIterable<OpenAI.Responses.ResponseStreamEvent>) if (e.type === 'response.output_text.delta') text += e.delta;
      assert.equal(text, 'echo:hi');
      assert.equal(response.headers.get('x-cliproxy-provider'), 'up');
      attempts.push(response.headers.get('x-cliproxy-attempts')!);
    }
    assert.equal(down.requests.length, 1);
    assert.deepEqual(attempts.sort(), ['1', '2']);
  });

  test('/v1/chat/completions with `input` is a Responses request; /backend-api/codex/responses is an alias', async () => {
    const viaChat = await post(`${proxy.url}/v1/chat/completions`, { model: 'text', input: 'via chat' });
    assert.equal(viaChat.status, 200);
    const body = (await viaChat.json()) as any;
    assert.equal(body.object, 'response');
    assert.equal(body.output[0].content[0].text, 'echo:via chat');

    const alias = await post(`${proxy.url}/backend-api/codex/responses`, { model: 'text', input: 'via alias', stream: true });
    assert.equal(alias.status, 200);
    assert.match(alias.headers.get('content-type') ?? '', /text\/event-stream/);
    const wire = await alias.text();
    assert.match(wire, /event: response\.completed\n/);
    assert.match(wire, /echo:via alias/);
    const anonymous = await fetch(`${proxy.url}/backend-api/codex/responses`, { method: 'POST', body: '{}' });
    assert.equal(anonymous.status, 401);
  });

  test('bad requests: OpenAI-shaped 400s and 404s', async () => {
    const missing = await post(`${proxy.url}/v1/responses`, { model: 'text' });
    assert.equal(missing.status, 400);
    assert.match(((await missing.json()) as any).error.message, /^input: is required/);
    await assert.rejects(client.responses.create({ model: 'no-such-model', input: 'x' }), (e: unknown) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
    const wrongMethod = await fetch(`${proxy.url}/v1/responses`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
    assert.equal(wrongMethod.status, 405);
  });

  test('metrics and usage: /v1/responses is its own endpoint label, tokens counted', async () => {
    await client.responses.create({ model: 'text', input: 'count me' });
    const text = await (await fetch(`${proxy.url}/metrics`)).text();
    assert.match(text, /cliproxy_requests_total\{endpoint="\/v1\/responses",model="text",provider="up",status="200"\} \d+/);
    assert.match(text, /cliproxy_tokens_total\{model="text",direction="in"\} [1-9]\d*\n/);
  });
});

// Codex with the built-in OpenAI provider compacts through the server: a compaction_trigger item in,
// exactly one compaction item out, sent back on later turns in place of the history.
test('remote compaction on a chat upstream: one compaction item out (plain and streamed), its summary back in on later turns', async (t) => {
  const up = await mockUpstream((req, res, r) => {
    const last = r.json.messages.at(-1);
    const asking = typeof last?.content === 'string' && last.content.includes('handoff note');
    const empty = JSON.stringify(r.json.messages).includes('EMPTY');
    const text = asking ? (empty ? '' : 'SUMMARY: the user wants the tests green; step 2 is next.') : `seen:${JSON.stringify(r.json.messages)}`;
    if (r.json.stream) return sse([delta('c-up', { content: text.slice(0, 10) }), delta('c-up', { content: text.slice(10) }), delta('c-up', {}, 'stop'), usageChunk('c-up', 50, 12)])(req, res, r);
    return json(completion(text, 'c-up'))(req, res, r);
  });
  const proxy = await startProxy({ 'openai-compatibility': [provider('p', up.url, [{ name: 'c-up', alias: 'codex-model' }])] });
  t.after(() => Promise.all([proxy.close(), up.close()]));
  const tools = [{ type: 'function', name: 'exec_command', parameters: { type: 'object', properties: { cmd: { type: 'string' } } } }];
  const history = [
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Make the tests green' }] },
    { type: 'function_call', call_id: 'call_1', name: 'exec_command', arguments: '{"cmd":"npm test"}' },
    { type: 'function_call_output', call_id: 'call_1', output: '3 failing' },
  ];

  const plain = await post(`${proxy.baseURL}/responses`, { model: 'codex-model', input: [...history, { type: 'compaction_trigger' }], tools, store: false });
  assert.equal(plain.status, 200);
  const body = (await plain.json()) as any;
  assert.equal(body.status, 'completed');
  assert.equal(body.output.length, 1, 'exactly one output item');
  assert.equal(body.output[0].type, 'compaction');
  assert.match(body.output[0].encrypted_content, /^cliproxy-compaction-v1:/);
  const asked = up.requests.at(-1)!.json;
  assert.match(asked.messages.at(-1).content, /handoff note/);
  assert.equal(asked.tool_choice, 'none', 'the summary is text, not a tool call');
  assert.ok(asked.messages.some((m: any) => m.role === 'tool' && m.content === '3 failing'), 'the whole conversation is summarised');

  // Streamed, as Codex asks: the item arrives in output_item.done and in response.completed.
  const streamed = await post(`${proxy.baseURL}/responses`, { model: 'codex-model', input: [...history, { type: 'compaction_trigger' }], tools, stream: true, store: false });
  const events = (await streamed.text()).split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
  const done = events.filter((e) => e.type === 'response.output_item.done');
  assert.equal(done.length, 1);
  assert.equal(done[0].item.type, 'compaction');
  const completed = events.find((e) => e.type === 'response.completed');
  assert.deepEqual(completed.response.output, [done[0].item]);
  assert.ok(completed.response.usage.output_tokens > 0);
  assert.equal(events[0].type, 'response.created', 'the stream opens before the summary is written');
  assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));

  // No summary: a plain request gets a 502, a stream (already open) ends with response.failed.
  const emptyInput = [{ type: 'message', role: 'user', content: 'EMPTY' }, { type: 'compaction_trigger' }];
  assert.equal((await post(`${proxy.baseURL}/responses`, { model: 'codex-model', input: emptyInput, store: false })).status, 502);
  const failedStream = await post(`${proxy.baseURL}/responses`, { model: 'codex-model', input: emptyInput, stream: true, store: false });
  const failedEvents = (await failedStream.text()).split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
  assert.deepEqual(failedEvents.map((e) => e.type), ['response.created', 'response.in_progress', 'response.failed']);
  assert.equal(failedEvents[2].response.error.code, 'upstream_invalid_response');

  // The next turn: Codex sends the item instead of the history; the model reads the summary.
  const item = done[0].item;
  const foreign = { type: 'compaction', encrypted_content: 'gAAAAABencrypted-by-another-server' };
  const next = await post(`${proxy.baseURL}/responses`, { model: 'codex-model', input: [foreign, { type: 'compaction', encrypted_content: item.encrypted_content }, { type: 'message', role: 'user', content: 'Go on' }], store: false });
  assert.equal(next.status, 200);
  const sent = up.requests.at(-1)!.json.messages;
  const text = JSON.stringify(sent);
  assert.match(text, /SUMMARY: the user wants the tests green; step 2 is next\./);
  assert.ok(!text.includes('gAAAAB'), 'an item another server made is dropped');
  assert.ok(text.indexOf('SUMMARY') < text.indexOf('Go on'), 'the summary stands where the history was');

  // The unary form (SDKs' responses.compact, older Codex): the new history comes back whole.
  const sdk = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL, maxRetries: 0 });
  const compacted = (await sdk.responses.compact({ model: 'codex-model', input: [...history, { type: 'message', role: 'user', content: 'And then?' }] as any })) as any;
  assert.equal(compacted.object, 'response.compaction');
  assert.deepEqual(compacted.output.map((i: any) => i.type), ['message', 'message', 'compaction'], 'the user\'s messages, then the summary');
  assert.equal(compacted.output[1].content, 'And then?');
  assert.match(compacted.output[2].encrypted_content, /^cliproxy-compaction-v1:/);
  assert.equal(up.requests.at(-1)!.json.stream, undefined, 'asked without streaming');
});
