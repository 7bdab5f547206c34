/**
 * Loopback upstreams that speak each vendor's API (shapes from the vendors' API references): an
 * OpenAI-compatible chat server, Anthropic Messages, Gemini generateContent and OpenAI Responses.
 * Each plays the same little agent, so that one table of tests can run against all of them:
 * - when the last input is a tool result, it answers `Tool said: <result>`;
 * - when tools are offered and the user asks about the weather, it calls get_weather {"city":"Paris"};
 * - otherwise it answers `Hello from <family>`.
 * Non-stream or stream as asked; the recorded requests let tests check what reached them.
 */
import type { ServerResponse } from 'node:http';
import { mockUpstream, type MockUpstream, type Recorded } from './upstream.js';

export type Family = 'openai' | 'anthropic' | 'gemini' | 'responses';

type Json = Record<string, any>;

export type Turn = { kind: 'text'; text: string } | { kind: 'tool'; id: string; name: string; args: Json };

/** Picks a tool call for a first turn from the names of the tools offered (CLI tests: the shell tool). */
export type CallChooser = (offered: readonly string[]) => { name: string; args: Json } | undefined;

/** The tools a request offers, by name, in each family's shape. */
function offered(r: Recorded): string[] {
  const tools: Json[] = Array.isArray(r.json?.tools) ? r.json.tools : [];
  return tools.flatMap((t) => (Array.isArray(t.functionDeclarations) ? t.functionDeclarations.map((f: Json) => f.name) : [t.function?.name ?? t.name]));
}

/** Set by the upstream handling the request, just before it decides (synchronously, so per request). */
let chooser: CallChooser | undefined;

/** What the agent answers to a request, given the family's view of it. */
function decide(family: Family, toolResult: string | undefined, hasTools: boolean, userText: string, r?: Recorded): Turn {
  if (toolResult !== undefined) return { kind: 'text', text: `Tool said: ${toolResult}` };
  const chosen = r && chooser ? chooser(offered(r)) : undefined;
  if (chosen) return { kind: 'tool', id: `call_${family}_1`, ...chosen };
  if (hasTools && /weather/i.test(userText)) return { kind: 'tool', id: `call_${family}_1`, name: 'get_weather', args: { city: 'Paris' } };
  return { kind: 'text', text: `Hello from ${family}` };
}

const textOf = (content: any): string =>
  typeof content === 'string' ? content : Array.isArray(content) ? content.map((p: any) => p.text ?? '').join('') : '';

/** Splits text in three pieces, to stream it in several deltas. */
function pieces(text: string): string[] {
  const n = Math.ceil(text.length / 3);
  return [text.slice(0, n), text.slice(n, 2 * n), text.slice(2 * n)].filter(Boolean);
}

function sendJson(res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendEvents(res: ServerResponse, events: Array<[string | undefined, unknown]>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [name, data] of events) res.write(`${name ? `event: ${name}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  res.end();
}

// ---- OpenAI chat completions ----

function openaiTurn(r: Recorded): Turn {
  const messages: Json[] = r.json.messages;
  const last = messages.at(-1)!;
  const user = [...messages].reverse().find((m) => m.role === 'user');
  return decide('openai', last.role === 'tool' ? textOf(last.content) : undefined, Array.isArray(r.json.tools), textOf(user?.content), r);
}

function openaiAnswer(res: ServerResponse, r: Recorded): void {
  const turn = openaiTurn(r);
  const model = r.json.model;
  const base = { id: 'chatcmpl-vendor', created: 1700000000, model };
  const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
  if (r.json.stream !== true) {
    const message = turn.kind === 'text'
      ? { role: 'assistant', content: turn.text }
      : { role: 'assistant', content: null, tool_calls: [{ id: turn.id, type: 'function', function: { name: turn.name, arguments: JSON.stringify(turn.args) } }] };
    return sendJson(res, { ...base, object: 'chat.completion', choices: [{ index: 0, message, finish_reason: turn.kind === 'text' ? 'stop' : 'tool_calls' }], usage });
  }
  const chunk = (delta: Json, finish: string | null = null) => [undefined, { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] }] as [undefined, Json];
  const events: Array<[string | undefined, unknown]> = [chunk({ role: 'assistant', content: '' })];
  if (turn.kind === 'text') for (const p of pieces(turn.text)) events.push(chunk({ content: p }));
  else {
    const args = JSON.stringify(turn.args);
    events.push(chunk({ tool_calls: [{ index: 0, id: turn.id, type: 'function', function: { name: turn.name, arguments: '' } }] }));
    for (const p of pieces(args)) events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: p } }] }));
  }
  events.push(chunk({}, turn.kind === 'text' ? 'stop' : 'tool_calls'));
  events.push([undefined, { ...base, object: 'chat.completion.chunk', choices: [], usage }], [undefined, '[DONE]']);
  sendEvents(res, events);
}

// ---- Anthropic Messages ----

function anthropicTurn(r: Recorded): Turn {
  const messages: Json[] = r.json.messages;
  const last = messages.at(-1)!;
  const result = Array.isArray(last.content) ? last.content.find((b: Json) => b.type === 'tool_result') : undefined;
  const user = [...messages].reverse().find((m) => m.role === 'user' && textOf(m.content) !== '');
  return decide('anthropic', result ? textOf(result.content) : undefined, Array.isArray(r.json.tools), textOf(user?.content), r);
}

function anthropicAnswer(res: ServerResponse, r: Recorded): void {
  const turn = anthropicTurn(r);
  const model = r.json.model;
  const content = turn.kind === 'text' ? [{ type: 'text', text: turn.text }] : [{ type: 'tool_use', id: turn.id, name: turn.name, input: turn.args }];
  const stop = turn.kind === 'text' ? 'end_turn' : 'tool_use';
  if (r.json.stream !== true) {
    return sendJson(res, { id: 'msg_vendor', type: 'message', role: 'assistant', model, content, stop_reason: stop, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 5 } });
  }
  const events: Array<[string, unknown]> = [
    ['message_start', { type: 'message_start', message: { id: 'msg_vendor', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1 } } }],
    ['ping', { type: 'ping' }],
  ];
  if (turn.kind === 'text') {
    events.push(['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }]);
    for (const p of pieces(turn.text)) events.push(['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } }]);
  } else {
    events.push(['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: turn.id, name: turn.name, input: {} } }]);
    for (const p of pieces(JSON.stringify(turn.args))) events.push(['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: p } }]);
  }
  events.push(
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 5 } }],
    ['message_stop', { type: 'message_stop' }],
  );
  sendEvents(res, events);
}

// ---- Gemini generateContent ----

function geminiTurn(r: Recorded): Turn {
  const contents: Json[] = r.json.contents;
  const last = contents.at(-1)!;
  const response = last.parts.find((p: Json) => p.functionResponse)?.functionResponse;
  const user = [...contents].reverse().find((c) => c.role === 'user' && c.parts.some((p: Json) => typeof p.text === 'string'));
  const result = response ? (typeof response.response?.result === 'string' ? response.response.result : JSON.stringify(response.response)) : undefined;
  const userText = user ? user.parts.map((p: Json) => p.text ?? '').join('') : '';
  return decide('gemini', result, Array.isArray(r.json.tools), userText, r);
}

function geminiAnswer(res: ServerResponse, r: Recorded, model: string, stream: boolean): void {
  const turn = geminiTurn(r);
  const usageMetadata = { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 };
  const response = (parts: Json[], finish?: string) => ({
    candidates: [{ content: { role: 'model', parts }, ...(finish ? { finishReason: finish } : {}), index: 0 }],
    ...(finish ? { usageMetadata } : {}),
    modelVersion: model,
    responseId: 'gemini-vendor',
  });
  const call = turn.kind === 'tool' ? { functionCall: { name: turn.name, args: turn.args }, thoughtSignature: 'c2lnbmF0dXJl' } : undefined;
  if (!stream) return sendJson(res, response(call ? [call] : [{ text: (turn as { text: string }).text }], 'STOP'));
  const events: Array<[undefined, unknown]> = [];
  if (call) events.push([undefined, response([call], 'STOP')]);
  else {
    const texts = pieces((turn as { text: string }).text);
    texts.forEach((t, i) => events.push([undefined, response([{ text: t }], i === texts.length - 1 ? 'STOP' : undefined)]));
  }
  sendEvents(res, events);
}

// ---- OpenAI Responses ----

function responsesTurn(r: Recorded): Turn {
  const input: Json[] = Array.isArray(r.json.input) ? r.json.input : [{ type: 'message', role: 'user', content: r.json.input }];
  const last = input.at(-1)!;
  const user = [...input].reverse().find((i) => i.role === 'user');
  const userText = user ? (typeof user.content === 'string' ? user.content : user.content.map((c: Json) => c.text ?? '').join('')) : '';
  return decide('responses', last.type === 'function_call_output' ? String(last.output) : undefined, Array.isArray(r.json.tools), userText, r);
}

function responsesAnswer(res: ServerResponse, r: Recorded): void {
  const turn = responsesTurn(r);
  const model = r.json.model;
  const item = turn.kind === 'text'
    ? { type: 'message', id: 'msg_vendor', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: turn.text, annotations: [] }] }
    : { type: 'function_call', id: 'fc_vendor', call_id: turn.id, name: turn.name, arguments: JSON.stringify(turn.args), status: 'completed' };
  const usage = { input_tokens: 10, output_tokens: 5, total_tokens: 15, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } };
  const response = (status: string, output: Json[]) => ({ id: 'resp_vendor', object: 'response', created_at: 1700000000, status, model, output, ...(status === 'completed' ? { usage } : {}) });
  if (r.json.stream !== true) return sendJson(res, response('completed', [item]));
  let seq = 0;
  const ev = (type: string, body: Json): [string, unknown] => [type, { type, sequence_number: seq++, ...body }];
  const events: Array<[string, unknown]> = [ev('response.created', { response: response('in_progress', []) }), ev('response.in_progress', { response: response('in_progress', []) })];
  if (turn.kind === 'text') {
    events.push(ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } }));
    events.push(ev('response.content_part.added', { item_id: 'msg_vendor', output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }));
    for (const p of pieces(turn.text)) events.push(ev('response.output_text.delta', { item_id: 'msg_vendor', output_index: 0, content_index: 0, delta: p }));
    events.push(ev('response.output_text.done', { item_id: 'msg_vendor', output_index: 0, content_index: 0, text: turn.text }));
  } else {
    events.push(ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', arguments: '' } }));
    for (const p of pieces(JSON.stringify(turn.args))) events.push(ev('response.function_call_arguments.delta', { item_id: 'fc_vendor', output_index: 0, delta: p }));
    events.push(ev('response.function_call_arguments.done', { item_id: 'fc_vendor', output_index: 0, arguments: JSON.stringify(turn.args) }));
  }
  events.push(ev('response.output_item.done', { output_index: 0, item }), ev('response.completed', { response: response('completed', [item]) }));
  sendEvents(res, events);
}

/** A loopback upstream of one family. Its `url` is what base-url should be for that family. */
export async function vendorUpstream(family: Family, callChooser?: CallChooser): Promise<MockUpstream & { baseUrl: string }> {
  const mock = await mockUpstream((req, res, r) => {
    chooser = callChooser;
    const path = r.path;
    if (family === 'openai' && path.endsWith('/chat/completions')) return openaiAnswer(res, r);
    if (family === 'anthropic' && path.startsWith('/v1/messages')) return anthropicAnswer(res, r);
    if (family === 'responses' && path.endsWith('/responses')) return responsesAnswer(res, r);
    const gemini = /^\/v1beta\/models\/([^:]+):(generateContent|streamGenerateContent)/.exec(path);
    if (family === 'gemini' && gemini) return geminiAnswer(res, r, decodeURIComponent(gemini[1]!), gemini[2] === 'streamGenerateContent');
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `no route ${req.method} ${path}` } }));
  });
  // openai-compatibility and codex base-urls include /v1; Anthropic's and Google's are the host.
  const baseUrl = family === 'openai' || family === 'responses' ? mock.url : `http://127.0.0.1:${mock.port}`;
  return Object.assign(mock, { baseUrl });
}

/** The config entry for a vendor upstream serving `model` under `alias`. */
export function vendorConfig(family: Family, baseUrl: string, model: string, alias: string, extra: Json = {}): [string, Json] {
  const models = [{ name: model, alias }];
  if (family === 'openai') return ['openai-compatibility', { name: `vendor-${alias}`, 'base-url': baseUrl, 'api-key-entries': [{ 'api-key': 'sk-vendor-openai-key' }], models, ...extra }];
  const key = family === 'anthropic' ? 'claude-api-key' : family === 'gemini' ? 'gemini-api-key' : 'codex-api-key';
  return [key, { 'api-key': `sk-vendor-${family}-key`, 'base-url': baseUrl, models, ...extra }];
}
