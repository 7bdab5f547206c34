/**
 * Gemini GenerateContentResponse → chat completion. Text parts are the answer, `thought` parts the
 * reasoning, functionCall parts tool calls (Gemini sends their arguments whole, as an object).
 * Thought tokens are output tokens the client pays for, so they count as completion tokens.
 */
import { asArray, chatCompletion, chatUsage, isObject, num, str, type Json, type ToolCallOut } from '../chat/upstream-common.js';

/** Gemini finishReason → chat finish_reason. */
export function finishReason(reason: unknown, hasToolCalls: boolean): string {
  switch (reason) {
    case 'MAX_TOKENS':
      return 'length';
    case 'SAFETY':
    case 'RECITATION':
    case 'BLOCKLIST':
    case 'PROHIBITED_CONTENT':
    case 'SPII':
    case 'IMAGE_SAFETY':
      return 'content_filter';
    default:
      return hasToolCalls ? 'tool_calls' : 'stop';
  }
}

export function usageOf(metadata: unknown): Json | undefined {
  if (!isObject(metadata)) return undefined;
  const thoughts = num(metadata.thoughtsTokenCount) ?? 0;
  const output = (num(metadata.candidatesTokenCount) ?? 0) + thoughts;
  return chatUsage(num(metadata.promptTokenCount) ?? 0, output, num(metadata.cachedContentTokenCount) ?? 0, thoughts);
}

/** The parts of a response's first candidate, read into text, reasoning and tool calls. */
export function readParts(response: Json, callBase: number): { text: string; reasoning: string; calls: ToolCallOut[]; finish: unknown } {
  const first = asArray(response.candidates).find(isObject);
  const candidate = first ?? {};
  const content = isObject(candidate.content) ? candidate.content : {};
  let text = '';
  let reasoning = '';
  const calls: ToolCallOut[] = [];
  for (const p of asArray(content.parts)) {
    if (!isObject(p)) continue;
    if (isObject(p.functionCall)) {
      const call = p.functionCall;
      calls.push({ id: str(call.id) ?? `call_${callBase + calls.length}`, name: str(call.name) ?? '', arguments: JSON.stringify(call.args ?? {}) });
    } else if (typeof p.text === 'string') {
      if (p.thought === true) reasoning += p.text;
      else text += p.text;
    }
  }
  // No candidate at all: the prompt itself was blocked (promptFeedback.blockReason).
  const blocked = first === undefined && isObject(response.promptFeedback) && response.promptFeedback.blockReason !== undefined;
  return { text, reasoning, calls, finish: blocked ? 'SAFETY' : candidate.finishReason };
}

export function geminiToChat(response: Json, model: string): Json {
  const { text, reasoning, calls, finish } = readParts(response, 0);
  return chatCompletion({
    id: str(response.responseId) ?? 'gemini',
    model: str(response.modelVersion) ?? model,
    text,
    reasoning,
    toolCalls: calls,
    finish: finishReason(finish, calls.length > 0),
    usage: usageOf(response.usageMetadata),
  });
}
