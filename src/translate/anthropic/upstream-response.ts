/**
 * Anthropic Messages answer → chat completion: text blocks joined into `content`, thinking into
 * `reasoning_content`, tool_use blocks into `tool_calls`; usage counts cached input as prompt tokens
 * (OpenAI's prompt_tokens include cached ones, Anthropic's input_tokens do not).
 */
import { asArray, chatCompletion, chatUsage, isObject, num, str, type Json, type ToolCallOut } from '../chat/upstream-common.js';

/** Anthropic stop_reason → chat finish_reason. */
export function finishReason(stop: unknown, hasToolCalls: boolean): string {
  switch (stop) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return hasToolCalls ? 'tool_calls' : 'stop';
  }
}

/** Anthropic usage → chat usage. */
export function usageOf(usage: unknown): Json {
  const u = isObject(usage) ? usage : {};
  const cacheRead = num(u.cache_read_input_tokens) ?? 0;
  const input = (num(u.input_tokens) ?? 0) + cacheRead + (num(u.cache_creation_input_tokens) ?? 0);
  return chatUsage(input, num(u.output_tokens) ?? 0, cacheRead);
}

export function messagesToChat(message: Json, model: string): Json {
  let text = '';
  let reasoning = '';
  const toolCalls: ToolCallOut[] = [];
  for (const b of asArray(message.content)) {
    if (!isObject(b)) continue;
    if (b.type === 'text') text += str(b.text) ?? '';
    else if (b.type === 'thinking') reasoning += str(b.thinking) ?? '';
    else if (b.type === 'tool_use') toolCalls.push({ id: str(b.id) ?? `call_${toolCalls.length}`, name: str(b.name) ?? '', arguments: JSON.stringify(b.input ?? {}) });
  }
  return chatCompletion({
    id: str(message.id) ?? 'msg',
    model: str(message.model) ?? model,
    text,
    reasoning,
    toolCalls,
    finish: finishReason(message.stop_reason, toolCalls.length > 0),
    usage: usageOf(message.usage),
  });
}
