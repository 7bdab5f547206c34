/**
 * OpenAI chat completion → Gemini GenerateContentResponse, as pure functions. The helpers here
 * (finish reasons, usage, call arguments) are shared with the stream adapter so that a streamed
 * answer and a plain one read the same.
 */
import { ProxyError } from '../../errors.js';
import type { ChatChoice, ChatCompletion, ChatUsage } from '../openai-chat.js';
import type { AnswerOptions, Candidate, FinishReason, FunctionCall, GenerateContentResponse, Part, UsageMetadata } from './types.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** OpenAI's finish_reason in Gemini terms; tool calls end a Gemini turn with STOP too. */
export function finishReason(finish: string | null | undefined): FinishReason {
  if (finish === 'length') return 'MAX_TOKENS';
  if (finish === 'content_filter') return 'SAFETY';
  return 'STOP';
}

/**
 * Call arguments as Gemini's `args` object, or undefined when they are not a JSON object: the
 * model produced a malformed call, which Gemini reports as MALFORMED_FUNCTION_CALL.
 */
export function parseArgs(args: string | undefined): Record<string, unknown> | undefined {
  if (args === undefined || args.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(args);
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** A finished call as a Gemini part, or undefined when its arguments are malformed. */
export function callPart(id: string | undefined, name: string, args: string | undefined): Part | undefined {
  const parsed = parseArgs(args);
  if (!parsed) return undefined;
  const call: FunctionCall = { name, args: parsed };
  if (id) call.id = id;
  return { functionCall: call };
}

/**
 * OpenAI usage in Gemini terms: OpenAI's completion_tokens include reasoning, Gemini counts
 * thoughts apart from candidates. Without usage, estimates (output: characters / 4).
 */
export function usageMetadata(usage: ChatUsage | null | undefined, promptEstimate: () => number, outputChars: number): UsageMetadata {
  if (!usage) {
    const prompt = promptEstimate();
    const candidates = Math.ceil(outputChars / 4);
    return { promptTokenCount: prompt, candidatesTokenCount: candidates, totalTokenCount: prompt + candidates };
  }
  const prompt = usage.prompt_tokens ?? 0;
  const completion = usage.completion_tokens ?? 0;
  const thoughts = Math.min(completion, usage.completion_tokens_details?.reasoning_tokens ?? 0);
  const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
  const out: UsageMetadata = {
    promptTokenCount: prompt,
    candidatesTokenCount: completion - thoughts,
    totalTokenCount: usage.total_tokens ?? prompt + completion,
  };
  if (thoughts > 0) out.thoughtsTokenCount = thoughts;
  if (cached > 0) out.cachedContentTokenCount = cached;
  return out;
}

/** The upstream's completion id as responseId, so that logs on both sides can be matched. */
export const responseId = (upstreamId: unknown, fallback: string): string => (typeof upstreamId === 'string' && upstreamId !== '' ? upstreamId : fallback);

export const MALFORMED_CALL = 'the model produced a function call whose arguments are not a JSON object';

function candidate(choice: ChatChoice, position: number, opts: AnswerOptions, chars: { n: number }): Candidate {
  const msg = choice.message ?? {};
  const parts: Part[] = [];
  const reasoning = msg.reasoning_content ?? msg.reasoning;
  if (opts.includeThoughts && typeof reasoning === 'string' && reasoning !== '') parts.push({ text: reasoning, thought: true });
  if (typeof reasoning === 'string') chars.n += reasoning.length;
  if (typeof msg.content === 'string' && msg.content !== '') {
    parts.push({ text: msg.content });
    chars.n += msg.content.length;
  }
  let malformed = false;
  for (const call of msg.tool_calls ?? []) {
    const args = call.function?.arguments;
    chars.n += args?.length ?? 0;
    const part = callPart(call.id, call.function?.name ?? '', args);
    if (part) parts.push(part);
    else malformed = true;
  }
  const out: Candidate = { content: { role: 'model', parts }, finishReason: finishReason(choice.finish_reason), index: choice.index ?? position };
  if (malformed && !parts.some((p) => 'functionCall' in p)) {
    out.finishReason = 'MALFORMED_FUNCTION_CALL';
    out.finishMessage = MALFORMED_CALL;
  }
  return out;
}

/** An OpenAI chat completion as a Gemini GenerateContentResponse. */
export function toGemini(res: ChatCompletion, opts: AnswerOptions): GenerateContentResponse {
  const choices = res.choices ?? [];
  if (choices.length === 0) throw new ProxyError(502, 'upstream_invalid_response', 'upstream answer has no choices');
  const chars = { n: 0 };
  const candidates = choices.map((choice, i) => candidate(choice, i, opts, chars));
  return {
    candidates,
    usageMetadata: usageMetadata(res.usage, opts.promptTokens, chars.n),
    modelVersion: opts.model,
    responseId: responseId(res.id, opts.id),
  };
}
