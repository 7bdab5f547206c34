/**
 * OpenAI chat completion chunks → Responses stream events, as a closure over the state of one
 * stream: each upstream event's data goes in, wire text (`event: …\ndata: …\n\n`) comes out at
 * once. Every event carries a `sequence_number` (0, 1, 2, ...).
 *
 * Output items: reasoning text opens a `reasoning` item (summary deltas), content a `message`
 * item; switching between them closes the open one. Tool calls become `function_call` items (or
 * `custom_tool_call` for freeform tools), added when their name is known and streamed by delta;
 * several may be open at once (each event names its `output_index`), and all close when the answer
 * ends. The text of each item is kept only for its `.done` events and the final response object.
 */
import { ProxyError } from '../../errors.js';
import type { ChatChunk, ChatChunkToolCall, ChatUsage } from '../openai-chat.js';
import { FreeformInput } from './freeform-input.js';
import { callItem, finishStatus, itemId, responseShell, usageOf, type ResponseOptions } from './response.js';
import { identityOf } from './tools.js';
import type { ItemStatus, Json, OutputItem, OutputText, ResponseObject } from './types.js';

export interface StreamOptions extends ResponseOptions {
  /** The client's request (the response echoes its settings). */
  readonly request: Json;
  /** Wire text of `response.failed` (the wire shape of errors is the server's business). */
  readonly failedEvent: (error: ProxyError, response: ResponseObject, sequence: number) => string;
  /** Keep-alive period while the upstream is silent (0: none). */
  readonly keepAliveMs?: number;
}

export interface ResponsesStream {
  event(data: string): string;
  /** The upstream ended cleanly. */
  end(): string;
  /** `response.failed` for an error the relay saw (the upstream broke mid-stream). */
  fail(error: ProxyError): string;
  /** The final response once `response.completed` / `response.incomplete` went out. */
  result(): ResponseObject | undefined;
  readonly keepAlive?: { readonly everyMs: number; text(): string };
}

/** An SSE comment: it keeps idle connections open through middleboxes, and every SSE parser skips it. */
export const KEEP_ALIVE = ': keep-alive\n\n';

interface TextState {
  readonly kind: 'message' | 'reasoning';
  readonly index: number;
  readonly id: string;
  text: string;
}

interface ToolState {
  /** output_index once added (-1 before: the name has not arrived). */
  index: number;
  callId: string;
  name: string;
  args: string;
  /** Characters of `args` already sent as deltas. */
  sent: number;
  custom: boolean;
  freeform?: FreeformInput;
}

const frame = (payload: { type: string } & Json): string => `event: ${payload.type}\ndata: ${JSON.stringify(payload)}\n\n`;

/** The stream transformer for one answer. */
export function streamToResponses(opts: StreamOptions): ResponsesStream {
  const response = responseShell(opts.request, opts);
  const output: OutputItem[] = [];
  let seq = 0;
  let nextIndex = 0;
  let started = false;
  let finished = false;
  let sawDone = false;
  let open: TextState | undefined;
  const tools: ToolState[] = [];
  const toolsByIndex = new Map<number, ToolState>();
  let finish: string | null | undefined;
  let usage: ChatUsage | null | undefined;
  let outputChars = 0;
  let final: ResponseObject | undefined;

  const emit = (type: string, fields: Json): string => frame({ type, sequence_number: seq++, ...fields });

  /** created and in_progress carry the same response (with the request's tools: serialised once). */
  function start(): string {
    started = true;
    const json = JSON.stringify(response);
    const lifecycle = (type: string) => `event: ${type}\ndata: {"type":"${type}","sequence_number":${seq++},"response":${json}}\n\n`;
    return lifecycle('response.created') + lifecycle('response.in_progress');
  }

  function closeText(status: ItemStatus = 'completed'): string {
    if (!open) return '';
    const { kind, index, id, text } = open;
    open = undefined;
    const at = { item_id: id, output_index: index };
    if (kind === 'reasoning') {
      const item: OutputItem = { id, type: 'reasoning', summary: [{ type: 'summary_text', text }] };
      output[index] = item;
      return (
        emit('response.reasoning_summary_text.done', { ...at, summary_index: 0, text }) +
        emit('response.reasoning_summary_part.done', { ...at, summary_index: 0, part: { type: 'summary_text', text } }) +
        emit('response.output_item.done', { output_index: index, item })
      );
    }
    const part: OutputText = { type: 'output_text', text, annotations: [], logprobs: [] };
    const item: OutputItem = { id, type: 'message', status, role: 'assistant', content: [part] };
    output[index] = item;
    return (
      emit('response.output_text.done', { ...at, content_index: 0, text, logprobs: [] }) +
      emit('response.content_part.done', { ...at, content_index: 0, part }) +
      emit('response.output_item.done', { output_index: index, item })
    );
  }

  function textDelta(kind: 'message' | 'reasoning', delta: string): string {
    let out = '';
    if (open?.kind !== kind) {
      out += closeText();
      const index = nextIndex++;
      const id = itemId(kind === 'message' ? 'msg' : 'rs', opts.id, index);
      open = { kind, index, id, text: '' };
      const at = { item_id: id, output_index: index };
      if (kind === 'message') {
        out += emit('response.output_item.added', { output_index: index, item: { id, type: 'message', status: 'in_progress', role: 'assistant', content: [] } });
        out += emit('response.content_part.added', { ...at, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
      } else {
        out += emit('response.output_item.added', { output_index: index, item: { id, type: 'reasoning', summary: [] } });
        out += emit('response.reasoning_summary_part.added', { ...at, summary_index: 0, part: { type: 'summary_text', text: '' } });
      }
    }
    const state = open!;
    state.text += delta;
    outputChars += delta.length;
    const at = { item_id: state.id, output_index: state.index };
    if (kind === 'message') return out + emit('response.output_text.delta', { ...at, content_index: 0, delta, logprobs: [] });
    return out + emit('response.reasoning_summary_text.delta', { ...at, summary_index: 0, delta });
  }

  function toolItemId(tool: ToolState): string {
    return itemId(tool.custom ? 'ctc' : 'fc', opts.id, tool.index);
  }

  /** Adds the tool's item (once its name is known) and sends the arguments not sent yet. */
  function advanceTool(tool: ToolState, force = false): string {
    let out = '';
    if (tool.index < 0) {
      if (tool.name === '' && !force) return '';
      tool.index = nextIndex++;
      const identity = identityOf(opts.tools, tool.name);
      tool.custom = identity.custom;
      if (tool.custom) tool.freeform = new FreeformInput();
      const ns = identity.namespace ? { namespace: identity.namespace } : {};
      const id = toolItemId(tool);
      const item = tool.custom
        ? { id, type: 'custom_tool_call', status: 'in_progress', call_id: tool.callId, name: identity.name, input: '', ...ns }
        : { id, type: 'function_call', status: 'in_progress', call_id: tool.callId, name: identity.name, arguments: '', ...ns };
      out += emit('response.output_item.added', { output_index: tool.index, item });
    }
    if (tool.sent === tool.args.length) return out;
    const fragment = tool.args.slice(tool.sent);
    tool.sent = tool.args.length;
    const at = { item_id: toolItemId(tool), output_index: tool.index };
    if (!tool.custom) return out + emit('response.function_call_arguments.delta', { ...at, delta: fragment });
    const decoded = tool.freeform!.feed(fragment);
    return decoded ? out + emit('response.custom_tool_call_input.delta', { ...at, delta: decoded }) : out;
  }

  function onToolCall(call: ChatChunkToolCall): string {
    const key = call.index ?? (call.id ? tools.length : Math.max(0, tools.length - 1));
    let tool = toolsByIndex.get(key);
    if (!tool) {
      tool = { index: -1, callId: call.id || `call_${opts.id.slice(5)}_${tools.length}`, name: '', args: '', sent: 0, custom: false };
      toolsByIndex.set(key, tool);
      tools.push(tool);
    }
    if (tool.index < 0 && call.function?.name) tool.name += call.function.name;
    const fragment = call.function?.arguments;
    if (fragment) {
      tool.args += fragment;
      outputChars += fragment.length;
    }
    return advanceTool(tool);
  }

  function closeTool(tool: ToolState, status: ItemStatus): string {
    let out = advanceTool(tool, true);
    const item = callItem(opts.tools, opts.id, tool.index, tool.callId, tool.name, tool.args, status);
    output[tool.index] = item;
    const at = { item_id: item.id, output_index: tool.index };
    if (item.type === 'custom_tool_call') out += emit('response.custom_tool_call_input.done', { ...at, input: item.input });
    else if (item.type === 'function_call') out += emit('response.function_call_arguments.done', { ...at, name: item.name, arguments: item.arguments });
    return out + emit('response.output_item.done', { output_index: tool.index, item });
  }

  function complete(): string {
    finished = true;
    const { status, incomplete_details } = finishStatus(finish);
    const itemStatus = status === 'incomplete' ? 'incomplete' : 'completed';
    let out = closeText(itemStatus);
    for (const tool of tools) out += closeTool(tool, itemStatus);
    final = { ...response, status, incomplete_details, output: output.filter(Boolean), usage: usageOf(usage, opts.inputTokens, outputChars) };
    return out + emit(status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final });
  }

  function fail(error: ProxyError): string {
    if (finished) return '';
    finished = true;
    const prefix = started ? '' : start();
    return prefix + opts.failedEvent(error, { ...response, output: output.filter(Boolean) }, seq++);
  }

  function upstreamError(chunk: ChatChunk): string {
    const code = chunk.error?.code;
    const status = typeof code === 'number' && code >= 400 && code <= 599 ? code : 502;
    const name = typeof code === 'string' && code !== '' ? code : 'upstream_stream_error';
    const message = typeof chunk.error?.message === 'string' ? chunk.error.message : 'upstream sent an error mid-stream';
    return fail(new ProxyError(status, name, message));
  }

  function event(data: string): string {
    if (finished) return '';
    if (data === '[DONE]') {
      sawDone = true;
      return (started ? '' : start()) + complete();
    }
    let chunk: ChatChunk;
    try {
      chunk = JSON.parse(data) as ChatChunk;
    } catch {
      return ''; // not JSON (a provider's comment-like event): nothing to translate
    }
    if (chunk.error) return upstreamError(chunk);
    let out = started ? '' : start();
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (!choice) return out;
    const delta = choice.delta;
    if (delta) {
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (typeof reasoning === 'string' && reasoning !== '') out += textDelta('reasoning', reasoning);
      if (typeof delta.content === 'string' && delta.content !== '') out += textDelta('message', delta.content);
      if (delta.tool_calls?.length) {
        out += closeText();
        for (const call of delta.tool_calls) out += onToolCall(call);
      }
    }
    if (choice.finish_reason) finish = choice.finish_reason;
    return out;
  }

  /** The upstream closed cleanly: without [DONE] or a finish_reason the answer is cut short. */
  function end(): string {
    if (finished) return '';
    if (sawDone || finish) return complete();
    return fail(new ProxyError(502, 'upstream_stream_truncated', 'upstream ended the stream before the answer was complete'));
  }

  const everyMs = opts.keepAliveMs ?? 0;
  const keepAlive = everyMs > 0 ? { everyMs, text: () => (started && !finished ? KEEP_ALIVE : '') } : undefined;
  return { event, end, fail, result: () => final, keepAlive };
}

/** The two events that open a response stream (sequence numbers 0 and 1). */
export function responseOpening(response: ResponseObject): string {
  const shell = { ...response, status: 'in_progress', incomplete_details: null, output: [], usage: null };
  return frame({ type: 'response.created', sequence_number: 0, response: shell }) + frame({ type: 'response.in_progress', sequence_number: 1, response: shell });
}

/**
 * A whole response as the stream events that build it (an upstream that answered without SSE);
 * `opened`: responseOpening already went out, continue after it.
 */
export function responseToEvents(response: ResponseObject, opened = false): string {
  let seq = 2;
  const emit = (type: string, fields: Json): string => frame({ type, sequence_number: seq++, ...fields });
  let out = opened ? '' : responseOpening(response);
  response.output.forEach((item, index) => {
    const at = { item_id: item.id, output_index: index };
    if (item.type === 'message') {
      const text = item.content[0]?.text ?? '';
      const part = { type: 'output_text', text: '', annotations: [], logprobs: [] };
      out += emit('response.output_item.added', { output_index: index, item: { ...item, status: 'in_progress', content: [] } });
      out += emit('response.content_part.added', { ...at, content_index: 0, part });
      out += emit('response.output_text.delta', { ...at, content_index: 0, delta: text, logprobs: [] });
      out += emit('response.output_text.done', { ...at, content_index: 0, text, logprobs: [] });
      out += emit('response.content_part.done', { ...at, content_index: 0, part: { ...part, text } });
    } else if (item.type === 'reasoning') {
      const text = item.summary[0]?.text ?? '';
      out += emit('response.output_item.added', { output_index: index, item: { ...item, summary: [] } });
      out += emit('response.reasoning_summary_part.added', { ...at, summary_index: 0, part: { type: 'summary_text', text: '' } });
      out += emit('response.reasoning_summary_text.delta', { ...at, summary_index: 0, delta: text });
      out += emit('response.reasoning_summary_text.done', { ...at, summary_index: 0, text });
      out += emit('response.reasoning_summary_part.done', { ...at, summary_index: 0, part: { type: 'summary_text', text } });
    } else if (item.type === 'function_call') {
      out += emit('response.output_item.added', { output_index: index, item: { ...item, status: 'in_progress', arguments: '' } });
      out += emit('response.function_call_arguments.delta', { ...at, delta: item.arguments });
      out += emit('response.function_call_arguments.done', { ...at, name: item.name, arguments: item.arguments });
    } else if (item.type === 'compaction') {
      out += emit('response.output_item.added', { output_index: index, item });
    } else {
      out += emit('response.output_item.added', { output_index: index, item: { ...item, status: 'in_progress', input: '' } });
      out += emit('response.custom_tool_call_input.delta', { ...at, delta: item.input });
      out += emit('response.custom_tool_call_input.done', { ...at, input: item.input });
    }
    out += emit('response.output_item.done', { output_index: index, item });
  });
  return out + emit(response.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response });
}
