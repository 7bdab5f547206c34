/**
 * OpenAI chat completion chunks → Anthropic Messages stream events, as a closure over the state
 * of one stream. Each upstream event's data goes in, wire text (`event: …\ndata: …\n\n`) comes
 * out; every event carries its `event:` line because Anthropic SDKs skip events without one.
 *
 * Anthropic content blocks are strictly sequential (start, deltas, stop, next block), while OpenAI
 * streams several tool calls by index. Calls that arrive one after another stream live; when a
 * provider interleaves their fragments, the later calls are buffered until the earlier one's
 * arguments form complete JSON (or the answer ends), so no fragment is lost or misplaced.
 */
import { ProxyError } from '../../errors.js';
import type { Message } from './messages.js';
import { messageId, stopReason, toolUseId, toolUseIdsOf, usageOf } from './response.js';
import type { ChatChunk, ChatChunkToolCall, ChatUsage } from '../openai-chat.js';

export interface StreamOptions {
  /** The model id the client asked for. */
  readonly model: string;
  /** Message id when the upstream gave none. */
  readonly id: string;
  /** Estimated input tokens: message_start's figure (real usage follows in message_delta). */
  readonly inputTokens: number;
  /** Wire text of an Anthropic `error` event (the wire shape is the server's business). */
  readonly errorEvent: (error: ProxyError) => string;
  /** Keep-alive period for `ping` events while the upstream is silent (0: none). */
  readonly pingEveryMs?: number;
  /** The request's `messages`: a new tool call never reuses one of their tool_use ids (response.ts toolUseId). */
  readonly priorMessages?: unknown;
}

export interface AnthropicStream {
  event(data: string): string;
  end(): string;
  readonly keepAlive?: { readonly everyMs: number; text(): string };
}

interface ToolState {
  readonly id: string;
  name: string;
  /** All argument text received so far; `sent` characters of it went to the client. */
  args: string;
  sent: number;
  /** Anthropic block index once started. */
  block: number;
  closed: boolean;
  /** args.length when it was last found incomplete (avoids parsing the same text twice). */
  checked: number;
}

const frame = (type: string, data: string): string => `event: ${type}\ndata: ${data}\n\n`;

const PING = frame('ping', '{"type": "ping"}');

function blockStart(index: number, block: unknown): string {
  return frame('content_block_start', JSON.stringify({ type: 'content_block_start', index, content_block: block }));
}

function blockDelta(index: number, kind: 'text_delta' | 'thinking_delta' | 'input_json_delta', value: string): string {
  const field = kind === 'text_delta' ? 'text' : kind === 'thinking_delta' ? 'thinking' : 'partial_json';
  return frame('content_block_delta', `{"type":"content_block_delta","index":${index},"delta":{"type":"${kind}","${field}":${JSON.stringify(value)}}}`);
}

const blockStop = (index: number): string => frame('content_block_stop', `{"type":"content_block_stop","index":${index}}`);

function messageStart(message: Omit<Message, 'content'> & { content: [] }): string {
  return frame('message_start', JSON.stringify({ type: 'message_start', message })) + PING;
}

function messageEnd(message: Pick<Message, 'stop_reason' | 'stop_sequence' | 'usage'>): string {
  const delta = { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence, stop_details: null };
  return frame('message_delta', JSON.stringify({ type: 'message_delta', delta, usage: message.usage })) + frame('message_stop', '{"type":"message_stop"}');
}

function isCompleteJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The stream transformer for one answer. */
export function streamToClient(opts: StreamOptions): AnthropicStream {
  let id = opts.id;
  let started = false;
  let finished = false;
  let sawDone = false;
  let nextBlock = 0;
  let open: { kind: 'text' | 'thinking' | 'tool'; index: number; tool?: ToolState } | undefined;
  const tools: ToolState[] = [];
  const toolsByIndex = new Map<number, ToolState>();
  let takenIds: Set<string> | undefined; // read from the request at the first tool call
  let finish: string | null | undefined;
  let stopString: unknown;
  let usage: ChatUsage | null | undefined;
  let outputChars = 0;

  function start(chunk: ChatChunk): string {
    started = true;
    id = messageId(chunk.id, opts.id);
    const zero = { input_tokens: opts.inputTokens, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    return messageStart({ id, type: 'message', role: 'assistant', model: opts.model, content: [], stop_reason: null, stop_sequence: null, stop_details: null, usage: zero });
  }

  function close(): string {
    if (!open) return '';
    if (open.tool) open.tool.closed = true;
    const out = blockStop(open.index);
    open = undefined;
    return out;
  }

  function openBlock(kind: 'text' | 'thinking'): string {
    if (open?.kind === kind) return '';
    let out = flushTools() + close();
    const index = nextBlock++;
    open = { kind, index };
    out += blockStart(index, kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' });
    return out;
  }

  function startTool(tool: ToolState): string {
    let out = close();
    tool.block = nextBlock++;
    open = { kind: 'tool', index: tool.block, tool };
    out += blockStart(tool.block, { type: 'tool_use', id: tool.id, name: tool.name, input: {} });
    return out + sendArgs(tool);
  }

  function sendArgs(tool: ToolState): string {
    if (tool.sent === tool.args.length) return '';
    const part = tool.args.slice(tool.sent);
    tool.sent = tool.args.length;
    return blockDelta(tool.block, 'input_json_delta', part);
  }

  /** The first call not yet closed: the only one whose fragments may go out now. */
  const live = (): ToolState | undefined => tools.find((t) => !t.closed);

  function argsComplete(tool: ToolState): boolean {
    if (tool.checked === tool.args.length) return false;
    if (isCompleteJson(tool.args)) return true;
    tool.checked = tool.args.length;
    return false;
  }

  /** Starts, feeds and closes calls in order as far as their state allows. */
  function advanceTools(): string {
    let out = '';
    for (let tool = live(); tool; tool = live()) {
      if (tool.block < 0) {
        if (tool.name === '') break; // its name has not arrived yet
        out += startTool(tool);
      } else out += sendArgs(tool);
      const later = tools.indexOf(tool) < tools.length - 1;
      if (!later || !argsComplete(tool)) break;
      out += close();
    }
    return out;
  }

  /** Sends every pending call whole: the answer ended, or text follows the calls. */
  function flushTools(): string {
    let out = '';
    for (let tool = live(); tool; tool = live()) {
      out += tool.block < 0 ? startTool(tool) : sendArgs(tool);
      out += close();
    }
    return out;
  }

  function onToolCall(call: ChatChunkToolCall): void {
    const key = call.index ?? (call.id ? tools.length : Math.max(0, tools.length - 1));
    let tool = toolsByIndex.get(key);
    if (!tool) {
      tool = { id: toolUseId(call.id, (takenIds ??= toolUseIdsOf(opts.priorMessages)), opts.id, tools.length), name: '', args: '', sent: 0, block: -1, closed: false, checked: -1 };
      toolsByIndex.set(key, tool);
      tools.push(tool);
    }
    if (tool.block < 0 && call.function?.name) tool.name += call.function.name;
    const fragment = call.function?.arguments;
    // A fragment for a call already closed (text came in between) has nowhere to go: Anthropic
    // blocks cannot be reopened. Providers do not do this; it is dropped rather than misplaced.
    if (fragment && !tool.closed) {
      tool.args += fragment;
      outputChars += fragment.length;
    }
  }

  function finishMessage(): string {
    finished = true;
    const out = flushTools() + close();
    const hasToolUse = tools.some((t) => t.block >= 0);
    const [stop_reason, stop_sequence] = stopReason(finish, hasToolUse, stopString);
    return out + messageEnd({ stop_reason, stop_sequence, usage: usageOf(usage, opts.inputTokens, outputChars) });
  }

  function upstreamError(chunk: ChatChunk): string {
    finished = true;
    const code = chunk.error?.code;
    const status = typeof code === 'number' && code >= 400 && code <= 599 ? code : 502;
    const message = typeof chunk.error?.message === 'string' ? chunk.error.message : 'upstream sent an error mid-stream';
    return opts.errorEvent(new ProxyError(status, 'upstream_stream_error', message));
  }

  function event(data: string): string {
    if (finished) return '';
    if (data === '[DONE]') {
      sawDone = true;
      return (started ? '' : start({})) + finishMessage();
    }
    let chunk: ChatChunk;
    try {
      chunk = JSON.parse(data) as ChatChunk;
    } catch {
      return ''; // not JSON (a provider's comment-like event): nothing to translate
    }
    if (chunk.error) return upstreamError(chunk);
    let out = started ? '' : start(chunk);
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (!choice) return out;
    const delta = choice.delta;
    if (delta) {
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (typeof reasoning === 'string' && reasoning !== '') {
        out += openBlock('thinking') + blockDelta(open!.index, 'thinking_delta', reasoning);
        outputChars += reasoning.length;
      }
      if (typeof delta.content === 'string' && delta.content !== '') {
        out += openBlock('text') + blockDelta(open!.index, 'text_delta', delta.content);
        outputChars += delta.content.length;
      }
      if (delta.tool_calls?.length) {
        for (const call of delta.tool_calls) onToolCall(call);
        out += advanceTools();
      }
    }
    if (choice.finish_reason) {
      finish = choice.finish_reason;
      stopString = choice.stop_reason ?? choice.matched_stop;
    }
    return out;
  }

  /** The upstream closed cleanly: without [DONE] or a finish_reason the answer is cut short. */
  function end(): string {
    if (finished) return '';
    if (sawDone || finish) return finishMessage();
    finished = true;
    return opts.errorEvent(new ProxyError(502, 'upstream_stream_truncated', 'upstream ended the stream before the answer was complete'));
  }

  const everyMs = opts.pingEveryMs ?? 0;
  const keepAlive = everyMs > 0 ? { everyMs, text: () => (started && !finished ? PING : '') } : undefined;
  return { event, end, keepAlive };
}

/** A whole message as the stream events that build it (an upstream that answered without SSE). */
export function messageToEvents(message: Message): string {
  const { content, ...rest } = message;
  const startUsage = { ...message.usage, output_tokens: 0 };
  let out = messageStart({ ...rest, content: [], stop_reason: null, stop_sequence: null, usage: startUsage });
  content.forEach((block, index) => {
    if (block.type === 'text') {
      out += blockStart(index, { type: 'text', text: '' }) + blockDelta(index, 'text_delta', block.text);
    } else if (block.type === 'thinking') {
      out += blockStart(index, { type: 'thinking', thinking: '', signature: '' }) + blockDelta(index, 'thinking_delta', block.thinking);
    } else {
      out += blockStart(index, { type: 'tool_use', id: block.id, name: block.name, input: {} }) + blockDelta(index, 'input_json_delta', JSON.stringify(block.input));
    }
    out += blockStop(index);
  });
  return out + messageEnd(message);
}
