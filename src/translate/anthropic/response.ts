/**
 * OpenAI chat completion → Anthropic message, as pure functions; the helpers here (ids, stop
 * reasons, usage) are shared with the stream adapter so both paths give the same message.
 */
import { ProxyError } from '../../errors.js';
import type { ContentBlock, Message, StopReason, Usage } from './messages.js';
import type { ChatCompletion, ChatUsage } from '../openai-chat.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ClientOptions {
  /** The model id the client asked for: answers name it, not the upstream's id. */
  readonly model: string;
  /** Message id when the upstream gave none. */
  readonly id: string;
  /** Estimated input tokens, used only when the upstream reports no usage. */
  readonly inputTokens: number;
  /** The request's `messages`: a new tool call never reuses one of their tool_use ids (read only when a call comes). */
  readonly priorMessages?: unknown;
}

/**
 * The id of the answer's n-th tool call: the upstream's own when it is new to the conversation,
 * else one made from our message id (unique per request). Some OpenAI-compatible servers number
 * their calls `call_0`, `call_1` in every answer; Claude Code discards an answer whose tool_use id
 * repeats an earlier one and sends the same request again, so the loop never moves on.
 */
export function toolUseId(upstreamId: string | undefined, taken: Set<string>, messageId: string, n: number): string {
  let id = upstreamId && !taken.has(upstreamId) ? upstreamId : `toolu_${messageId}_${n}`;
  while (taken.has(id)) id += '_';
  taken.add(id);
  return id;
}

/** The tool_use ids in an Anthropic request's assistant turns. */
export function toolUseIdsOf(messages: unknown): Set<string> {
  const ids = new Set<string>();
  if (!Array.isArray(messages)) return ids;
  for (const m of messages) {
    if (typeof m !== 'object' || m === null || (m as { role?: unknown }).role !== 'assistant') continue;
    const content = (m as { content?: unknown }).content;
    if (!Array.isArray(content)) continue;
    for (const block of content) {
      if (typeof block === 'object' && block !== null && block.type === 'tool_use' && typeof block.id === 'string') ids.add(block.id);
    }
  }
  return ids;
}

/** `msg_…` from the upstream's completion id, so that logs on both sides can be matched. */
export function messageId(upstreamId: unknown, fallback: string): string {
  if (typeof upstreamId !== 'string' || upstreamId === '') return fallback;
  return upstreamId.startsWith('msg_') ? upstreamId : `msg_${upstreamId}`;
}

/** Parsed tool arguments; Anthropic's `input` is always an object, so anything else becomes {}. */
export function parseArguments(args: string | undefined): unknown {
  if (!args || args.trim() === '') return {};
  try {
    const input: unknown = JSON.parse(args);
    return isObject(input) ? input : {};
  } catch {
    return {};
  }
}

/** Maps OpenAI's finish_reason; a stop string reported by vLLM/SGLang becomes `stop_sequence`. */
export function stopReason(finish: string | null | undefined, hasToolUse: boolean, stopString: unknown): [StopReason, string | null] {
  if (finish === 'length') return ['max_tokens', null];
  if (finish === 'content_filter') return ['refusal', null];
  if (hasToolUse) return ['tool_use', null];
  if (typeof stopString === 'string' && stopString !== '') return ['stop_sequence', stopString];
  return ['end_turn', null];
}

/**
 * OpenAI usage in Anthropic terms: Anthropic's input_tokens excludes cache reads, OpenAI's
 * prompt_tokens includes them. Without usage, estimates (output: characters / 4).
 */
export function usageOf(usage: ChatUsage | null | undefined, inputEstimate: number, outputChars: number): Usage {
  if (!usage) return { input_tokens: inputEstimate, output_tokens: Math.ceil(outputChars / 4), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    input_tokens: Math.max(0, (usage.prompt_tokens ?? 0) - cached),
    output_tokens: usage.completion_tokens ?? 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}

/** An OpenAI chat completion as an Anthropic message. */
export function toClient(res: ChatCompletion, opts: ClientOptions): Message {
  const choice = res.choices?.[0];
  if (!choice) throw new ProxyError(502, 'upstream_invalid_response', 'upstream answer has no choices');
  const id = messageId(res.id, opts.id);
  const msg = choice.message ?? {};
  const content: ContentBlock[] = [];
  let chars = 0;
  const reasoning = msg.reasoning_content ?? msg.reasoning;
  if (typeof reasoning === 'string' && reasoning !== '') {
    content.push({ type: 'thinking', thinking: reasoning, signature: '' });
    chars += reasoning.length;
  }
  if (typeof msg.content === 'string' && msg.content !== '') {
    content.push({ type: 'text', text: msg.content });
    chars += msg.content.length;
  }
  let taken: Set<string> | undefined;
  (msg.tool_calls ?? []).forEach((call, i) => {
    const args = call.function?.arguments;
    chars += args?.length ?? 0;
    content.push({ type: 'tool_use', id: toolUseId(call.id, (taken ??= toolUseIdsOf(opts.priorMessages)), opts.id, i), name: call.function?.name ?? '', input: parseArguments(args) });
  });
  const hasToolUse = content.some((b) => b.type === 'tool_use');
  const [stop_reason, stop_sequence] = stopReason(choice.finish_reason, hasToolUse, choice.stop_reason ?? choice.matched_stop);
  return {
    id,
    type: 'message',
    role: 'assistant',
    model: opts.model,
    content,
    stop_reason,
    stop_sequence,
    stop_details: null,
    usage: usageOf(res.usage, opts.inputTokens, chars),
  };
}
