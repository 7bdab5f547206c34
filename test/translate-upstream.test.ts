/**
 * The upstream adapters as pure functions (chat → Anthropic / Gemini / Responses and back, streams
 * fed raw events) and the vendor error classification.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chatToMessages } from '../src/translate/anthropic/upstream-request.js';
import { messagesStreamToChat } from '../src/translate/anthropic/upstream-stream.js';
import { chatToGemini } from '../src/translate/gemini/upstream-request.js';
import { geminiToChat } from '../src/translate/gemini/upstream-response.js';
import { geminiStreamToChat } from '../src/translate/gemini/upstream-stream.js';
import { chatToResponses } from '../src/translate/responses/upstream-request.js';
import { responsesStreamToChat } from '../src/translate/responses/upstream-stream.js';
import type { ChatStreamAdapter } from '../src/translate/chat/upstream-common.js';
import { classifyStatus } from '../src/upstream/faults.js';
import { vendorRetryDelayMs } from '../src/upstream/vendor-faults.js';
import { probeEvent } from '../src/upstream/conversion.js';

const TOOL_HISTORY = [
  { role: 'system', content: 'Sys.' },
  { role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
  { role: 'assistant', content: 'Two calls.', tool_calls: [
    { id: 'call_a', type: 'function', function: { name: 'read', arguments: '{"path":"a"}' } },
    { id: 'call_b', type: 'function', function: { name: 'read', arguments: 'not json' } },
  ] },
  { role: 'tool', tool_call_id: 'call_a', content: 'A' },
  { role: 'tool', tool_call_id: 'call_b', content: '{"ok":true}' },
];
const TOOLS = [{ type: 'function', function: { name: 'read', description: 'Read a file', parameters: { type: 'object', properties: { path: { type: 'string' } }, additionalProperties: false } } }];

/** Chat chunks (parsed) an adapter emits for raw events, then its end. */
function run(adapter: ChatStreamAdapter, events: Array<[string | undefined, unknown]>): any[] {
  let wire = '';
  for (const [name, data] of events) wire += adapter.event(name, JSON.stringify(data));
  wire += adapter.end();
  return wire.split('\n\n').filter(Boolean).map((frame) => {
    const data = frame.replace(/^data: /, '');
    return data === '[DONE]' ? '[DONE]' : JSON.parse(data);
  });
}

describe('chat → Anthropic Messages', () => {
  test('tool turns: results of one turn in one user message; unparsable arguments kept; images as base64', () => {
    const out = chatToMessages({ model: 'x', messages: TOOL_HISTORY, tools: TOOLS, parallel_tool_calls: false, tool_choice: 'required' }, 'claude-up');
    assert.equal(out.model, 'claude-up');
    assert.equal(out.system, 'Sys.');
    const [user, assistant, results] = out.messages as any[];
    assert.deepEqual(user.content[1], { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } });
    assert.deepEqual(assistant.content.map((b: any) => b.type), ['text', 'tool_use', 'tool_use']);
    assert.deepEqual(assistant.content[2].input, { input: 'not json' });
    assert.deepEqual(results.content.map((b: any) => b.tool_use_id), ['call_a', 'call_b']);
    assert.deepEqual(out.tool_choice, { type: 'any', disable_parallel_tool_use: true });
    assert.equal((out.tools as any[])[0].input_schema.additionalProperties, false);
  });

  test('reasoning effort becomes a thinking budget below max_tokens, without temperature', () => {
    const out = chatToMessages({ model: 'x', messages: [{ role: 'user', content: 'Hi' }], reasoning_effort: 'high', max_tokens: 1000, temperature: 0.2 }, 'c');
    assert.deepEqual(out.thinking, { type: 'enabled', budget_tokens: 24576 });
    assert.ok((out.max_tokens as number) > 24576);
    assert.equal(out.temperature, undefined);
  });
});

describe('chat → Gemini', () => {
  test('function responses are named after their call; JSON results stay objects; tool choice and schema', () => {
    const out = chatToGemini({ model: 'x', messages: TOOL_HISTORY, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'read' } } }) as any;
    assert.deepEqual(out.systemInstruction, { parts: [{ text: 'Sys.' }] });
    assert.deepEqual(out.contents[0].parts[1], { inlineData: { mimeType: 'image/png', data: 'AAAA' } });
    const model = out.contents[1];
    assert.equal(model.role, 'model');
    assert.equal(model.parts[1].functionCall.name, 'read');
    assert.equal(model.parts[1].thoughtSignature, 'skip_thought_signature_validator');
    const responses = out.contents[2].parts.map((p: any) => p.functionResponse);
    assert.deepEqual(responses, [
      { id: 'call_a', name: 'read', response: { result: 'A' } },
      { id: 'call_b', name: 'read', response: { ok: true } },
    ]);
    assert.deepEqual(out.toolConfig, { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['read'] } });
    assert.equal(out.tools[0].functionDeclarations[0].parametersJsonSchema.additionalProperties, false);
  });

  test('an answer: thoughts as reasoning, calls as tool calls, a blocked prompt as content_filter', () => {
    const chat = geminiToChat({ candidates: [{ content: { parts: [{ text: 'hmm', thought: true }, { text: 'Hi' }, { functionCall: { name: 'f', args: { a: 1 } } }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, thoughtsTokenCount: 4 } }, 'g') as any;
    assert.equal(chat.choices[0].message.content, 'Hi');
    assert.equal(chat.choices[0].message.reasoning_content, 'hmm');
    assert.equal(chat.choices[0].message.tool_calls[0].function.arguments, '{"a":1}');
    assert.equal(chat.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(chat.usage, { prompt_tokens: 3, completion_tokens: 6, total_tokens: 9, completion_tokens_details: { reasoning_tokens: 4 } });
    const blocked = geminiToChat({ promptFeedback: { blockReason: 'SAFETY' } }, 'g') as any;
    assert.equal(blocked.choices[0].finish_reason, 'content_filter');
  });
});

describe('chat → Responses', () => {
  test('instructions, function calls and outputs as items, JSON schema output', () => {
    const out = chatToResponses({ model: 'x', messages: TOOL_HISTORY, tools: TOOLS, response_format: { type: 'json_schema', json_schema: { name: 'r', schema: { type: 'object' }, strict: true } } }, 'gpt-up') as any;
    assert.equal(out.instructions, 'Sys.');
    assert.deepEqual(out.input.map((i: any) => i.type), ['message', 'message', 'function_call', 'function_call', 'function_call_output', 'function_call_output']);
    assert.equal(out.input[0].content[1].type, 'input_image');
    assert.equal(out.input[3].arguments, 'not json', 'arguments are passed as the client wrote them');
    assert.deepEqual(out.text, { format: { type: 'json_schema', name: 'r', schema: { type: 'object' }, strict: true } });
    assert.equal(out.store, false);
  });
});

describe('native streams → chat chunks', () => {
  test('Anthropic: text, then a tool_use block at index 1 becomes tool call 0; usage adds cached input', () => {
    const chunks = run(messagesStreamToChat('m'), [
      ['message_start', { type: 'message_start', message: { id: 'msg_1', model: 'claude', usage: { input_tokens: 5, cache_read_input_tokens: 10, output_tokens: 1 } } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } }],
      ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} } }],
      ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"a":' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '1}' } }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 7 } }],
      ['message_stop', { type: 'message_stop' }],
    ]);
    assert.equal(chunks[0].id, 'msg_1');
    assert.equal(chunks[1].choices[0].delta.content, 'Hi');
    assert.deepEqual(chunks[2].choices[0].delta.tool_calls[0], { index: 0, id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '' } });
    assert.equal(chunks[3].choices[0].delta.tool_calls[0].index, 0);
    assert.equal(chunks[5].choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(chunks[6].usage, { prompt_tokens: 15, completion_tokens: 7, total_tokens: 22, prompt_tokens_details: { cached_tokens: 10 } });
    assert.equal(chunks.at(-1), '[DONE]');
  });

  test('Anthropic: an error event fails the stream; so does an end without message_stop', () => {
    const adapter = messagesStreamToChat('m');
    assert.throws(() => adapter.event('error', JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })), /overloaded_error/);
    const cut = messagesStreamToChat('m');
    cut.event('message_start', JSON.stringify({ type: 'message_start', message: {} }));
    assert.throws(() => cut.end(), /message_stop/);
  });

  test('Gemini: MAX_TOKENS is length; the last usageMetadata is the usage; no finishReason is a broken stream', () => {
    const chunks = run(geminiStreamToChat('g'), [
      [undefined, { candidates: [{ content: { parts: [{ text: 'Hel' }] } }], responseId: 'r1' }],
      [undefined, { candidates: [{ content: { parts: [{ text: 'lo' }] }, finishReason: 'MAX_TOKENS' }], usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 2 } }],
    ]);
    assert.equal(chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join(''), 'Hello');
    assert.equal(chunks.find((c) => c.choices?.[0]?.finish_reason)?.choices[0].finish_reason, 'length');
    assert.equal(chunks.at(-2).usage.total_tokens, 4);
    const cut = geminiStreamToChat('g');
    cut.event(undefined, JSON.stringify({ candidates: [{ content: { parts: [{ text: 'x' }] } }] }));
    assert.throws(() => cut.end(), /finishReason/);
  });

  test('Responses: reasoning summary, function call arguments by output index, incomplete is length', () => {
    const chunks = run(responsesStreamToChat('r'), [
      [undefined, { type: 'response.created', response: { id: 'resp_1', model: 'gpt' } }],
      [undefined, { type: 'response.reasoning_summary_text.delta', delta: 'think' }],
      [undefined, { type: 'response.output_item.added', output_index: 1, item: { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '' } }],
      [undefined, { type: 'response.function_call_arguments.delta', output_index: 1, delta: '{}' }],
      [undefined, { type: 'response.incomplete', response: { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, usage: { input_tokens: 1, output_tokens: 2 } } }],
    ]);
    assert.equal(chunks[1].choices[0].delta.reasoning_content, 'think');
    assert.equal(chunks[2].choices[0].delta.tool_calls[0].id, 'call_1');
    assert.equal(chunks[3].choices[0].delta.tool_calls[0].function.arguments, '{}');
    assert.equal(chunks[4].choices[0].finish_reason, 'length');
    assert.throws(() => responsesStreamToChat('r').event(undefined, JSON.stringify({ type: 'response.failed', response: { error: { code: 'rate_limit_exceeded', message: 'slow down' } } })), /slow down/);
  });

  test('stream probes: preamble events wait, an error right after them fails over with its status', () => {
    assert.equal(probeEvent('anthropic', '{"type":"message_start","message":{}}'), 'wait');
    assert.equal((probeEvent('anthropic', '{"type":"error","error":{"type":"overloaded_error"}}') as any).status, 529);
    assert.equal(probeEvent('responses', '{"type":"response.in_progress"}'), 'wait');
    assert.equal((probeEvent('responses', '{"type":"response.failed","response":{"error":{"code":"rate_limit_exceeded"}}}') as any).status, 429);
    assert.equal((probeEvent('gemini', '{"error":{"code":503,"status":"UNAVAILABLE"}}') as any).status, 503);
    assert.equal(probeEvent('gemini', '{"candidates":[]}'), 'commit');
  });
});

describe('vendor errors', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  test('Anthropic reset headers: the latest reset of an exhausted limit', () => {
    const headers = {
      'anthropic-ratelimit-requests-remaining': '0',
      'anthropic-ratelimit-requests-reset': '2026-01-01T00:00:20Z',
      'anthropic-ratelimit-tokens-remaining': '5000',
      'anthropic-ratelimit-tokens-reset': '2026-01-01T00:00:50Z',
    };
    assert.equal(vendorRetryDelayMs(headers, Buffer.alloc(0), now), 20_000);
  });

  test('Google RetryInfo.retryDelay, with fractions, also inside a one-element array', () => {
    const body = (delay: string) => Buffer.from(JSON.stringify({ error: { code: 429, status: 'RESOURCE_EXHAUSTED', details: [{ '@type': 'type.googleapis.com/google.rpc.QuotaFailure' }, { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: delay }] } }));
    assert.equal(vendorRetryDelayMs({}, body('37s'), now), 37_000);
    assert.equal(vendorRetryDelayMs({}, Buffer.from(`[${body('0.5s').toString()}]`), now), 500);
    const classified = classifyStatus(429, body('12s'), undefined, {});
    assert.deepEqual(classified.fault, { kind: 'rate-limit', retryAfterMs: 12_000 });
    assert.deepEqual(classifyStatus(429, body('12s'), '3').fault, { kind: 'rate-limit', retryAfterMs: 3000 }, 'Retry-After wins');
  });

  test('400s about the key are auth faults; other 400s are the request’s; 529 is transient', () => {
    const invalidKey = Buffer.from(JSON.stringify({ error: { code: 400, status: 'INVALID_ARGUMENT', message: 'API key not valid.', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }] } }));
    assert.deepEqual(classifyStatus(400, invalidKey).fault, { kind: 'auth' });
    const badRequest = Buffer.from(JSON.stringify({ error: { code: 400, status: 'INVALID_ARGUMENT', message: 'Invalid JSON payload' } }));
    assert.equal(classifyStatus(400, badRequest).fault, undefined);
    const credit = Buffer.from(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'Your credit balance is too low to access the Anthropic API.' } }));
    assert.deepEqual(classifyStatus(400, credit).fault, { kind: 'auth' });
    assert.deepEqual(classifyStatus(529, Buffer.from('{"type":"error","error":{"type":"overloaded_error"}}')).fault, { kind: 'transient' });
  });
});
