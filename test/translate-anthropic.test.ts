/**
 * Anthropic ⇄ OpenAI translators on recorded fixtures: raw upstream `data:` lines in, Anthropic
 * events out (the shape of OpenAI, DeepSeek and vLLM streams, as those servers send them).
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { MessageStream } from '@anthropic-ai/sdk/lib/MessageStream';
import { ProxyError, UpstreamReply } from '../src/errors.js';
import type { CommittedStream } from '../src/execute.js';
import { anthropicErrorBody, anthropicErrorEvent, anthropicErrorType } from '../src/server/errors.js';
import { relayStream } from '../src/server/sse.js';
import type { Message } from '../src/translate/anthropic/messages.js';
import { messageToEvents, reasoningEffort, streamToClient, toClient, toUpstream, type StreamOptions } from '../src/translate/anthropic/index.js';
import { estimateInputTokens, MEDIA_TOKENS } from '../src/translate/anthropic/tokens.js';

const OPTS: StreamOptions = { model: 'claude-test', id: 'msg_fallback', inputTokens: 42, errorEvent: anthropicErrorEvent };

/** The payloads of the `data:` lines of a recorded upstream stream. */
const dataLines = (recorded: string): string[] =>
  recorded
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice(6));

interface Ev {
  event: string;
  data: any;
}

/** Parses wire text; every event must have an `event:` line matching its data's type. */
function parseEvents(wire: string): Ev[] {
  return wire
    .split('\n\n')
    .filter((b) => b.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      assert.equal(lines.length, 2, `one event line and one data line: ${block}`);
      assert.ok(lines[0]!.startsWith('event: '), block);
      assert.ok(lines[1]!.startsWith('data: '), block);
      const event = lines[0]!.slice(7);
      const data = JSON.parse(lines[1]!.slice(6));
      assert.equal(data.type, event);
      return { event, data };
    });
}

function translate(recorded: string, opts: Partial<StreamOptions> = {}, end = true): { wire: string; events: Ev[] } {
  const t = streamToClient({ ...OPTS, ...opts });
  let wire = '';
  for (const data of dataLines(recorded)) wire += t.event(data);
  if (end) wire += t.end();
  return { wire, events: parseEvents(wire) };
}

/**
 * What the official SDK's stream helper builds from our events (pings and all), less the
 * `parsed_output: null` it adds itself (structured outputs, not part of the wire message).
 */
async function sdkFinalMessage(wire: string): Promise<unknown> {
  const lines = parseEvents(wire).map((e) => JSON.stringify(e.data) + '\n');
  const body = new ReadableStream({
    start(controller) {
      for (const l of lines) controller.enqueue(new TextEncoder().encode(l));
      controller.close();
    },
  });
  const { parsed_output, ...message } = (await MessageStream.fromReadableStream(body).finalMessage()) as unknown as Record<string, unknown>;
  assert.equal(parsed_output, null);
  return message;
}

const names = (events: Ev[]) => events.map((e) => e.event);

// OpenAI gpt-4o, stream_options.include_usage: usage arrives in a last chunk with no choices.
const OPENAI_TEXT = `
data: {"id":"chatcmpl-B9x","object":"chat.completion.chunk","created":1741000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-B9x","object":"chat.completion.chunk","created":1741000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-B9x","object":"chat.completion.chunk","created":1741000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":", \\"wörld\\" 👋"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-B9x","object":"chat.completion.chunk","created":1741000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

data: {"id":"chatcmpl-B9x","object":"chat.completion.chunk","created":1741000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":7,"total_tokens":1207,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}

data: [DONE]
`;

// OpenAI, text then two parallel tool calls whose arguments arrive in fragments.
const OPENAI_PARALLEL_TOOLS = `
data: {"id":"chatcmpl-T1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-T1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Checking both."},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-T1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_paris","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-T1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"ci"}}]},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-T1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\\": \\"Par"}}]},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-T1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"is\\"}"}}]},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-T1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_rome","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-T1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\\"city\\""}}]},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-T1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":": \\"Rome\\", \\"unit\\": \\"c\\"}"}}]},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-T1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null}

data: {"id":"chatcmpl-T1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":90,"completion_tokens":40,"total_tokens":130}}

data: [DONE]
`;

// A provider that interleaves the fragments of two calls (all headers first).
const INTERLEAVED_TOOLS = `
data: {"id":"x1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","function":{"name":"read","arguments":""}},{"index":1,"id":"call_b","function":{"name":"read","arguments":""}}]},"finish_reason":null}]}

data: {"id":"x1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"path\\":"}}]},"finish_reason":null}]}

data: {"id":"x1","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\\"path\\":\\"b.txt\\"}"}}]},"finish_reason":null}]}

data: {"id":"x1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\"a.txt\\"}"}}]},"finish_reason":null}]}

data: {"id":"x1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":20}}

data: [DONE]
`;

// DeepSeek reasoner: reasoning_content first, then content; usage on the finish chunk.
const DEEPSEEK_REASONING = `
data: {"id":"ds-1","object":"chat.completion.chunk","model":"deepseek-reasoner","choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"ds-1","object":"chat.completion.chunk","model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"The user greets."},"logprobs":null,"finish_reason":null}]}

data: {"id":"ds-1","object":"chat.completion.chunk","model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":null,"reasoning_content":" Reply briefly."},"logprobs":null,"finish_reason":null}]}

data: {"id":"ds-1","object":"chat.completion.chunk","model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":"Hi!","reasoning_content":null},"logprobs":null,"finish_reason":null}]}

data: {"id":"ds-1","object":"chat.completion.chunk","model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":"","reasoning_content":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0}}}

data: [DONE]
`;

// vLLM: the matched stop string is reported in choices[].stop_reason.
const VLLM_STOP = `
data: {"id":"cmpl-v","object":"chat.completion.chunk","model":"qwen","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"cmpl-v","object":"chat.completion.chunk","model":"qwen","choices":[{"index":0,"delta":{"content":"1, 2"},"logprobs":null,"finish_reason":null}]}

data: {"id":"cmpl-v","object":"chat.completion.chunk","model":"qwen","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop","stop_reason":"END"}]}

data: {"id":"cmpl-v","object":"chat.completion.chunk","model":"qwen","choices":[],"usage":{"prompt_tokens":5,"total_tokens":8,"completion_tokens":3}}

data: [DONE]
`;

describe('stream transformer (OpenAI chunks → Anthropic events)', () => {
  test('text: message_start, ping, one text block, message_delta with usage, message_stop', async () => {
    const { wire, events } = translate(OPENAI_TEXT);
    assert.deepEqual(names(events), [
      'message_start', 'ping', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
    ]);
    assert.deepEqual(events[0]!.data.message, {
      id: 'msg_chatcmpl-B9x', type: 'message', role: 'assistant', model: 'claude-test', content: [], stop_reason: null, stop_sequence: null, stop_details: null,
      usage: { input_tokens: 42, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
    assert.deepEqual(events[2]!.data, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    assert.deepEqual(events.slice(3, 5).map((e) => e.data.delta), [{ type: 'text_delta', text: 'Hello' }, { type: 'text_delta', text: ', "wörld" 👋' }]);
    // OpenAI's prompt_tokens include cached ones; Anthropic's input_tokens do not.
    assert.deepEqual(events[6]!.data, {
      type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null, stop_details: null },
      usage: { input_tokens: 176, output_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 1024 },
    });
    const final = (await sdkFinalMessage(wire)) as Message;
    assert.deepEqual(final.content, [{ type: 'text', text: 'Hello, "wörld" 👋' }]);
    assert.equal(final.usage.input_tokens, 176);
  });

  test('parallel tool calls with fragmented arguments stream live, in order, one block each', async () => {
    const { wire, events } = translate(OPENAI_PARALLEL_TOOLS);
    const starts = events.filter((e) => e.event === 'content_block_start').map((e) => e.data);
    assert.deepEqual(starts, [
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'call_paris', name: 'get_weather', input: {} } },
      { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'call_rome', name: 'get_weather', input: {} } },
    ]);
    // Blocks are sequential: each stop comes before the next start.
    const order = events.filter((e) => e.event.startsWith('content_block_') && e.event !== 'content_block_delta').map((e) => `${e.event}:${e.data.index}`);
    assert.deepEqual(order, ['content_block_start:0', 'content_block_stop:0', 'content_block_start:1', 'content_block_stop:1', 'content_block_start:2', 'content_block_stop:2']);
    // The first call's fragments went out as they came, before the second call started.
    const firstCallDeltas = events.filter((e) => e.event === 'content_block_delta' && e.data.index === 1).map((e) => e.data.delta.partial_json);
    assert.deepEqual(firstCallDeltas, ['{"ci', 'ty": "Par', 'is"}']);
    const final = (await sdkFinalMessage(wire)) as Message;
    assert.deepEqual(final.content, [
      { type: 'text', text: 'Checking both.' },
      { type: 'tool_use', id: 'call_paris', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_rome', name: 'get_weather', input: { city: 'Rome', unit: 'c' } },
    ]);
    assert.equal(final.stop_reason, 'tool_use');
    assert.deepEqual(final.usage, { input_tokens: 90, output_tokens: 40, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  });

  test('interleaved tool-call fragments are held back until the earlier call is complete', async () => {
    const { wire, events } = translate(INTERLEAVED_TOOLS);
    const final = (await sdkFinalMessage(wire)) as Message;
    assert.deepEqual(final.content, [
      { type: 'tool_use', id: 'call_a', name: 'read', input: { path: 'a.txt' } },
      { type: 'tool_use', id: 'call_b', name: 'read', input: { path: 'b.txt' } },
    ]);
    for (const e of events.filter((x) => x.event === 'content_block_delta')) {
      assert.match(e.data.delta.partial_json, e.data.index === 0 ? /a\.txt|path/ : /b\.txt/);
    }
  });

  test('reasoning_content becomes a thinking block before the text block', async () => {
    const { wire, events } = translate(DEEPSEEK_REASONING);
    const starts = events.filter((e) => e.event === 'content_block_start').map((e) => e.data.content_block);
    assert.deepEqual(starts, [{ type: 'thinking', thinking: '', signature: '' }, { type: 'text', text: '' }]);
    assert.deepEqual(events.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta.type), ['thinking_delta', 'thinking_delta', 'text_delta']);
    const final = (await sdkFinalMessage(wire)) as Message;
    assert.deepEqual(final.content, [{ type: 'thinking', thinking: 'The user greets. Reply briefly.', signature: '' }, { type: 'text', text: 'Hi!' }]);
    assert.equal(final.usage.output_tokens, 9);
  });

  test('finish_reason length → max_tokens; a stop string reported by vLLM → stop_sequence', () => {
    const length = translate(OPENAI_TEXT.replace('"finish_reason":"stop"', '"finish_reason":"length"')).events;
    assert.equal(length.find((e) => e.event === 'message_delta')!.data.delta.stop_reason, 'max_tokens');
    const stop = translate(VLLM_STOP).events.find((e) => e.event === 'message_delta')!.data;
    assert.deepEqual(stop.delta, { stop_reason: 'stop_sequence', stop_sequence: 'END', stop_details: null });
  });

  test('an upstream without [DONE] still ends cleanly after its finish_reason', () => {
    const recorded = OPENAI_TEXT.replace('data: [DONE]', '');
    const { events } = translate(recorded);
    assert.deepEqual(names(events).slice(-2), ['message_delta', 'message_stop']);
  });

  test('a stream that ends with no finish_reason and no [DONE] ends with an error event, not message_stop', () => {
    const cut = dataLines(OPENAI_TEXT).slice(0, 2).map((d) => `data: ${d}`).join('\n\n');
    const { events } = translate(cut);
    assert.deepEqual(names(events), ['message_start', 'ping', 'content_block_start', 'content_block_delta', 'error']);
    assert.deepEqual(events.at(-1)!.data.error.type, 'api_error');
  });

  test('an error object mid-stream becomes an Anthropic error event and nothing follows it', () => {
    const recorded = dataLines(OPENAI_TEXT).slice(0, 2).map((d) => `data: ${d}`).join('\n\n') +
      '\n\ndata: {"error":{"message":"Provider overloaded","code":529}}\n\n' + OPENAI_TEXT;
    const { events } = translate(recorded);
    assert.equal(events.at(-1)!.event, 'error');
    assert.deepEqual(events.at(-1)!.data, { type: 'error', error: { type: 'overloaded_error', message: 'Provider overloaded' } });
    assert.equal(events.filter((e) => e.event === 'message_stop').length, 0);
  });

  test('empty deltas open no block; a tool call whose name comes late waits for it', () => {
    const recorded = `
data: {"id":"n","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}

data: {"id":"n","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"arguments":""}}]}}]}

data: {"id":"n","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"ls","arguments":"{}"}}]}}]}

data: {"id":"n","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: [DONE]
`;
    const { events } = translate(recorded);
    const start = events.find((e) => e.event === 'content_block_start')!.data;
    assert.deepEqual(start, { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'call_1', name: 'ls', input: {} } });
    // No usage from the upstream: input is the estimate, output ≈ characters / 4.
    assert.deepEqual(events.find((e) => e.event === 'message_delta')!.data.usage, { input_tokens: 42, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  });

  test('keep-alive pings only between message_start and the end', () => {
    const t = streamToClient({ ...OPTS, pingEveryMs: 1000 });
    assert.equal(t.keepAlive!.everyMs, 1000);
    assert.equal(t.keepAlive!.text(), '', 'nothing before message_start');
    const [first, ...rest] = dataLines(OPENAI_TEXT);
    t.event(first!);
    assert.equal(t.keepAlive!.text(), 'event: ping\ndata: {"type": "ping"}\n\n');
    for (const d of rest) t.event(d);
    assert.equal(t.keepAlive!.text(), '', 'nothing after message_stop');
    assert.equal(streamToClient(OPTS).keepAlive, undefined);
  });
});

/** A real HTTP response fed by a hand-made committed stream, read by fetch. */
async function relayThrough(chunks: Array<string | number>, mapperOpts: Partial<StreamOptions>): Promise<string> {
  let closed = false;
  async function* rest(): AsyncGenerator<Buffer> {
    for (const c of chunks.slice(1)) {
      if (typeof c === 'number') await new Promise((r) => setTimeout(r, c));
      else yield Buffer.from(c);
    }
  }
  const server = createServer((_req, res: ServerResponse) => {
    const committed = {
      kind: 'stream', status: 200, headers: {}, attempts: 1,
      target: { provider: { name: 'mock' } }, credential: { index: 0 },
      prelude: [Buffer.from(chunks[0] as string)], rest: rest(), abort: () => (closed = true),
    } as unknown as CommittedStream;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    void relayStream(res, committed, { mapper: streamToClient({ ...OPTS, ...mapperOpts }), errorEvent: anthropicErrorEvent });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const text = await res.text();
    assert.equal(closed, false);
    return text;
  } finally {
    server.close();
  }
}

describe('SSE relay keep-alive (EventMapper.keepAlive)', () => {
  test('pings go out while the upstream is silent and stop when the stream ends', async () => {
    const [first, second, ...others] = dataLines(OPENAI_TEXT).map((d) => `data: ${d}\n\n`);
    const wire = await relayThrough([first!, 250, second!, ...others], { pingEveryMs: 40 });
    const events = names(parseEvents(wire));
    // The upstream said nothing for 250 ms after its first (empty) chunk: besides the ping right
    // after message_start, the timer sent some before the first block.
    const before = events.slice(1, events.indexOf('content_block_start'));
    assert.ok(before.length >= 3, `pings expected before the first block: ${events.join(',')}`);
    assert.ok(before.every((n) => n === 'ping'));
    assert.equal(events.at(-1), 'message_stop');
    const final = (await sdkFinalMessage(wire)) as Message;
    assert.deepEqual(final.content, [{ type: 'text', text: 'Hello, "wörld" 👋' }]);
  });

  test('without silence there are no extra pings', async () => {
    const wire = await relayThrough([OPENAI_TEXT.trim() + '\n\n'], { pingEveryMs: 5_000 });
    assert.equal(names(parseEvents(wire)).filter((n) => n === 'ping').length, 1);
  });
});

describe('request translation (toUpstream)', () => {
  test('system blocks, multi-turn tool_use → tool_result, images and sampling fields', () => {
    const chat = toUpstream(
      {
        model: 'claude-x',
        max_tokens: 512,
        temperature: 0.2,
        top_p: 0.9,
        top_k: 40,
        stop_sequences: ['STOP'],
        metadata: { user_id: 'user-123' },
        system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'Answer in English.' }],
        messages: [
          { role: 'user', content: 'Weather in Paris and Rome?' },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'two calls', signature: 'sig' },
              { type: 'text', text: 'Checking.' },
              { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
              { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { city: 'Rome' } },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C' },
              { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '25°C' }, { type: 'image', source: { type: 'url', url: 'https://x/map.png' } }] },
              { type: 'text', text: 'And a picture:' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            ],
          },
        ],
      },
      'up-model',
    );
    assert.deepEqual(chat, {
      model: 'up-model',
      messages: [
        { role: 'system', content: 'You are terse.\n\nAnswer in English.' },
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18°C' },
        { role: 'tool', tool_call_id: 'toolu_2', content: '25°C' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'And a picture:' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://x/map.png' } },
          ],
        },
      ],
      max_tokens: 512,
      temperature: 0.2,
      top_p: 0.9,
      stop: ['STOP'],
      user: 'user-123',
    });
    assert.equal(Object.keys(chat)[0], 'model', 'model first: the per-target rename finds it at once');
  });

  test('tools, tool_choice, stream options and thinking', () => {
    const base = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }] };
    const tools = [{ name: 'ls', description: 'List files', input_schema: { type: 'object', properties: { dir: { type: 'string' } } } }, { name: 'noargs' }];
    const chat = toUpstream({ ...base, stream: true, tools, tool_choice: { type: 'any', disable_parallel_tool_use: true }, thinking: { type: 'enabled', budget_tokens: 10_000 } }, 'm');
    assert.equal(chat.messages[0]!.content, 'a\n\nb');
    assert.deepEqual(chat.tools, [
      { type: 'function', function: { name: 'ls', description: 'List files', parameters: tools[0]!.input_schema } },
      { type: 'function', function: { name: 'noargs', parameters: { type: 'object', properties: {} } } },
    ]);
    assert.equal(chat.tool_choice, 'required');
    assert.equal(chat.parallel_tool_calls, false);
    assert.deepEqual(chat.stream_options, { include_usage: true });
    assert.equal(chat.reasoning_effort, 'medium');
    assert.deepEqual(toUpstream({ ...base, tools, tool_choice: { type: 'tool', name: 'ls' } }, 'm').tool_choice, { type: 'function', function: { name: 'ls' } });
    assert.equal(toUpstream({ ...base, tool_choice: { type: 'auto' } }, 'm').tool_choice, undefined, 'no tool_choice without tools');
    assert.equal(toUpstream({ ...base, thinking: { type: 'disabled' } }, 'm').reasoning_effort, undefined);
    assert.deepEqual([1024, 4000, 10_000, 31_999].map(reasoningEffort), ['low', 'low', 'medium', 'high']);
    // Anthropic's newer output_config: effort wins over a thinking budget; a JSON schema format maps too.
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } } };
    const configured = toUpstream({ ...base, thinking: { type: 'enabled', budget_tokens: 2000 }, output_config: { effort: 'max', format: { type: 'json_schema', schema } } }, 'm');
    assert.equal(configured.reasoning_effort, 'high');
    assert.deepEqual(configured.response_format, { type: 'json_schema', json_schema: { name: 'output', schema } });
    assert.equal(toUpstream({ ...base, thinking: { type: 'adaptive' } }, 'm').reasoning_effort, 'medium');
  });

  test('malformed requests are 400s naming the path', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ model: 'm' }, /^messages: must be an array/],
      [{ messages: [{ role: 'critic', content: 'x' }] }, /^messages\.0\.role/],
      [{ messages: [{ role: 'user', content: 5 }] }, /^messages\.0\.content/],
      [{ messages: [{ role: 'user', content: [{ type: 'image', source: 'x' }] }] }, /^messages\.0\.content\.0\.source/],
      [{ messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }] }, /^messages\.0\.content\.0\.text/],
      [{ messages: [], system: 7 }, /^system/],
      [{ messages: [], max_tokens: 'ten' }, /^max_tokens/],
      [{ messages: [], tools: {} }, /^tools: must be an array/],
      [{ messages: [], tools: [{ input_schema: {} }] }, /^tools\.0\.name/],
    ];
    for (const [req, message] of cases) {
      assert.throws(() => toUpstream(req, 'm'), (e: ProxyError) => e.status === 400 && message.test(e.message), JSON.stringify(req));
    }
  });
});

describe('response translation (toClient, messageToEvents)', () => {
  const completion = {
    id: 'chatcmpl-9',
    choices: [{
      index: 0,
      message: { role: 'assistant', content: 'Let me look.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'ls', arguments: '{"dir":"/tmp"}' } }, { id: 'call_2', type: 'function', function: { name: 'ls', arguments: 'not json' } }] },
      finish_reason: 'tool_calls',
    }],
    usage: { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 },
  };

  test('text and tool calls become blocks with parsed input; finish reason and usage are mapped', () => {
    const message = toClient(completion, { model: 'claude-x', id: 'msg_x', inputTokens: 1 });
    assert.deepEqual(message, {
      id: 'msg_chatcmpl-9', type: 'message', role: 'assistant', model: 'claude-x',
      content: [
        { type: 'text', text: 'Let me look.' },
        { type: 'tool_use', id: 'call_1', name: 'ls', input: { dir: '/tmp' } },
        { type: 'tool_use', id: 'call_2', name: 'ls', input: {} },
      ],
      stop_reason: 'tool_use', stop_sequence: null, stop_details: null,
      usage: { input_tokens: 30, output_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
    const length = toClient({ choices: [{ message: { content: 'abc' }, finish_reason: 'length' }] }, { model: 'm', id: 'msg_fb', inputTokens: 7 });
    assert.equal(length.stop_reason, 'max_tokens');
    assert.equal(length.id, 'msg_fb');
    assert.deepEqual(length.usage, { input_tokens: 7, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
    assert.throws(() => toClient({ choices: [] }, { model: 'm', id: 'x', inputTokens: 0 }), (e: ProxyError) => e.status === 502);
  });

  test('messageToEvents replays a whole message; the SDK rebuilds it exactly', async () => {
    const message = toClient(completion, { model: 'claude-x', id: 'msg_x', inputTokens: 1 });
    const wire = messageToEvents(message);
    assert.deepEqual(names(parseEvents(wire)).slice(0, 2), ['message_start', 'ping']);
    assert.deepEqual(await sdkFinalMessage(wire), message);
  });
});

describe('token estimate and Anthropic error shapes', () => {
  test('count_tokens estimate: JSON characters / 4, base64 media a flat 1,600 tokens', () => {
    const text = { messages: [{ role: 'user', content: 'x'.repeat(4000) }] };
    const tokens = estimateInputTokens(text);
    assert.ok(tokens >= 1000 && tokens < 1020, String(tokens));
    const image = { messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'A'.repeat(400_000) } }] }] };
    const withImage = estimateInputTokens(image);
    assert.ok(withImage >= MEDIA_TOKENS && withImage < MEDIA_TOKENS + 40, String(withImage));
    assert.ok(estimateInputTokens({ ...text, system: 'y'.repeat(400), tools: [{ name: 't', input_schema: {} }] }) > tokens + 100);
  });

  test('statuses map to Anthropic error types; upstream error bodies keep their message', () => {
    const types = [400, 401, 403, 404, 405, 413, 415, 429, 500, 502, 503, 504, 529].map(anthropicErrorType);
    assert.deepEqual(types, [
      'invalid_request_error', 'authentication_error', 'permission_error', 'not_found_error', 'invalid_request_error', 'request_too_large',
      'invalid_request_error', 'rate_limit_error', 'api_error', 'api_error', 'api_error', 'api_error', 'overloaded_error',
    ]);
    const reply = new UpstreamReply(429, Buffer.from('{"error":{"message":"slow down","type":"rate_limit","code":null}}'), 'application/json');
    assert.deepEqual(anthropicErrorBody(reply), { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } });
    const opaque = new UpstreamReply(502, Buffer.from('<html>bad gateway</html>'), 'text/html');
    assert.deepEqual(anthropicErrorBody(opaque), { type: 'error', error: { type: 'api_error', message: 'upstream answered 502' } });
    assert.equal(anthropicErrorEvent(new ProxyError(500, 'x', 'boom')), 'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"boom"}}\n\n');
  });
});

describe('tool_use ids are new to the conversation', () => {
  test('stream: an upstream id the conversation already holds, or one repeated in the answer, is replaced', () => {
    const { events } = translate(OPENAI_PARALLEL_TOOLS, { priorMessages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 'call_paris', name: 'get_weather', input: {} }] }] });
    const ids = events.filter((e) => e.data.content_block?.type === 'tool_use').map((e) => e.data.content_block.id);
    assert.equal(ids.length, 2);
    assert.notEqual(ids[0], 'call_paris', 'call_paris answered an earlier turn');
    assert.match(ids[0], /^toolu_msg_fallback_0$/);
    assert.equal(ids[1], 'call_rome', 'a new id is kept');
    const twice = translate(OPENAI_PARALLEL_TOOLS.replaceAll('call_rome', 'call_paris'));
    const both = twice.events.filter((e) => e.data.content_block?.type === 'tool_use').map((e) => e.data.content_block.id);
    assert.equal(new Set(both).size, 2, both.join(','));
  });

  test('non-stream: the same rule', () => {
    const completion = { id: 'chatcmpl-same', choices: [{ message: { tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'f', arguments: '{}' } }, { id: 'call_1', type: 'function', function: { name: 'g', arguments: '{}' } }] }, finish_reason: 'tool_calls' }] };
    const message = toClient(completion as any, { model: 'm', id: 'msg_turn2', inputTokens: 1, priorMessages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 'call_0', name: 'f', input: {} }] }] });
    assert.deepEqual(message.content.map((b: any) => b.id), ['toolu_msg_turn2_0', 'call_1']);
  });
});
