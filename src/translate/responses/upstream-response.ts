/**
 * OpenAI Responses answer → chat completion: output_text of message items is the answer, reasoning
 * summaries the reasoning, function_call items tool calls (call_id is the id the client sends back).
 */
import { asArray, chatCompletion, chatUsage, isObject, num, str, type Json, type ToolCallOut } from '../chat/upstream-common.js';

/** A Response's status (and incomplete reason) → chat finish_reason. */
export function finishReason(response: Json, hasToolCalls: boolean): string {
  if (response.status === 'incomplete') {
    const reason = isObject(response.incomplete_details) ? response.incomplete_details.reason : undefined;
    return reason === 'content_filter' ? 'content_filter' : 'length';
  }
  return hasToolCalls ? 'tool_calls' : 'stop';
}

export function usageOf(usage: unknown): Json | undefined {
  if (!isObject(usage)) return undefined;
  const cached = isObject(usage.input_tokens_details) ? (num(usage.input_tokens_details.cached_tokens) ?? 0) : 0;
  const reasoning = isObject(usage.output_tokens_details) ? (num(usage.output_tokens_details.reasoning_tokens) ?? 0) : 0;
  return chatUsage(num(usage.input_tokens) ?? 0, num(usage.output_tokens) ?? 0, cached, reasoning);
}

export function responsesToChat(response: Json, model: string): Json {
  let text = '';
  let reasoning = '';
  const toolCalls: ToolCallOut[] = [];
  for (const item of asArray(response.output)) {
    if (!isObject(item)) continue;
    if (item.type === 'message') {
      for (const c of asArray(item.content)) if (isObject(c) && c.type === 'output_text') text += str(c.text) ?? '';
    } else if (item.type === 'reasoning') {
      for (const s of asArray(item.summary)) if (isObject(s)) reasoning += str(s.text) ?? '';
    } else if (item.type === 'function_call') {
      toolCalls.push({ id: str(item.call_id) ?? str(item.id) ?? `call_${toolCalls.length}`, name: str(item.name) ?? '', arguments: str(item.arguments) ?? '{}' });
    }
  }
  return chatCompletion({
    id: str(response.id) ?? 'resp',
    model: str(response.model) ?? model,
    created: num(response.created_at),
    text,
    reasoning,
    toolCalls,
    finish: finishReason(response, toolCalls.length > 0),
    usage: usageOf(response.usage),
  });
}
