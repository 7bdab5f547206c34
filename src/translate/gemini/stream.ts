/**
 * OpenAI chat completion chunks → Gemini stream objects (GenerateContentResponse), as a closure
 * over the state of one stream. Each upstream event's data goes in; the Gemini objects it makes
 * come out at once (framing them as SSE or as a JSON array is the server's business).
 *
 * Text and thoughts go out as they arrive. Gemini has no partial function calls, so each tool call
 * is held until its arguments are complete (they parse as a JSON object, the next call starts, or
 * the choice finishes) and then sent whole. The finish reason waits for the usage chunk that
 * OpenAI-style servers send after it, so that the last object carries both, as Gemini's does.
 */
import { ProxyError } from '../../errors.js';
import type { ChatChunk, ChatChunkToolCall, ChatUsage } from '../openai-chat.js';
import { MALFORMED_CALL, callPart, finishReason, responseId, usageMetadata } from './response.js';
import type { AnswerOptions, Candidate, GenerateContentResponse, Part } from './types.js';

export interface GeminiStream {
  /** The Gemini objects for one upstream event's data. Throws a ProxyError for an upstream error event. */
  event(data: string): GenerateContentResponse[];
  /** The objects still owed once the upstream ended cleanly. Throws a ProxyError when the answer was cut short. */
  end(): GenerateContentResponse[];
}

interface CallState {
  id: string | undefined;
  name: string;
  args: string;
  sent: boolean;
}

interface CandidateState {
  readonly index: number;
  readonly calls: CallState[];
  /** The call that fragments without an id or index belong to, by the upstream's tool-call index. */
  readonly byIndex: Map<number, CallState>;
  finish: string | null | undefined;
  sentCall: boolean;
  malformed: boolean;
}

/** Cheap test first: only text that ends in `}` can be a complete JSON object. */
function complete(args: string): boolean {
  const trimmed = args.trimEnd();
  if (!trimmed.endsWith('}')) return false;
  try {
    JSON.parse(trimmed);
    return true;
  } catch {
    return false;
  }
}

/** The stream transformer for one answer. */
export function streamToGemini(opts: AnswerOptions): GeminiStream {
  let id = opts.id;
  let seenId = false;
  let finished = false;
  let usage: ChatUsage | null | undefined;
  let outputChars = 0;
  const candidates = new Map<number, CandidateState>();

  const object = (list: Candidate[]): GenerateContentResponse => ({ candidates: list, modelVersion: opts.model, responseId: id });
  const partsObject = (index: number, parts: Part[]) => object([{ content: { role: 'model', parts }, index }]);

  function candidate(index: number): CandidateState {
    let state = candidates.get(index);
    if (!state) {
      state = { index, calls: [], byIndex: new Map(), finish: undefined, sentCall: false, malformed: false };
      candidates.set(index, state);
    }
    return state;
  }

  /** Sends the calls that are ready (all of them when `all`), in order. */
  function sendCalls(state: CandidateState, all: boolean): Part[] {
    const parts: Part[] = [];
    for (const call of state.calls) {
      if (call.sent) continue;
      if (!all && !complete(call.args)) break;
      call.sent = true;
      const part = callPart(call.id, call.name, call.args);
      if (part) {
        parts.push(part);
        state.sentCall = true;
      } else state.malformed = true;
    }
    return parts;
  }

  function onCallFragment(state: CandidateState, fragment: ChatChunkToolCall, parts: Part[]): void {
    const key = fragment.index ?? (fragment.id ? state.calls.length : Math.max(0, state.calls.length - 1));
    let call = state.byIndex.get(key);
    // Some providers number every parallel call 0: a new id means a new call.
    if (!call || (fragment.id && call.id && fragment.id !== call.id)) {
      parts.push(...sendCalls(state, true)); // the calls before this one are complete
      call = { id: fragment.id || undefined, name: '', args: '', sent: false };
      state.byIndex.set(key, call);
      state.calls.push(call);
    }
    if (call.sent) return; // fragments after a call went out whole have nowhere to go
    if (fragment.id && !call.id) call.id = fragment.id;
    if (fragment.function?.name) call.name += fragment.function.name;
    const args = fragment.function?.arguments;
    if (args) {
      call.args += args;
      outputChars += args.length;
    }
  }

  /** The last object: every candidate's finish reason, and the usage. */
  function finalObject(): GenerateContentResponse {
    finished = true;
    const list: Candidate[] = [];
    for (const state of candidates.size > 0 ? candidates.values() : [candidate(0)]) {
      const parts = sendCalls(state, true);
      const entry: Candidate = { content: { role: 'model', parts }, finishReason: finishReason(state.finish), index: state.index };
      if (state.malformed && !state.sentCall) {
        entry.finishReason = 'MALFORMED_FUNCTION_CALL';
        entry.finishMessage = MALFORMED_CALL;
      }
      list.push(entry);
    }
    const last = object(list);
    last.usageMetadata = usageMetadata(usage, opts.promptTokens, outputChars);
    return last;
  }

  const allFinished = (): boolean => candidates.size > 0 && [...candidates.values()].every((s) => s.finish);

  function upstreamError(chunk: ChatChunk): ProxyError {
    finished = true;
    const code = chunk.error?.code;
    const status = typeof code === 'number' && code >= 400 && code <= 599 ? code : 502;
    const message = typeof chunk.error?.message === 'string' ? chunk.error.message : 'upstream sent an error mid-stream';
    return new ProxyError(status, 'upstream_stream_error', message);
  }

  function event(data: string): GenerateContentResponse[] {
    if (finished) return [];
    if (data === '[DONE]') return [finalObject()];
    let chunk: ChatChunk;
    try {
      chunk = JSON.parse(data) as ChatChunk;
    } catch {
      return []; // not JSON (a provider's comment-like event): nothing to translate
    }
    if (chunk.error) throw upstreamError(chunk);
    if (!seenId) {
      seenId = true;
      id = responseId(chunk.id, opts.id);
    }
    if (chunk.usage) usage = chunk.usage;
    const out: GenerateContentResponse[] = [];
    for (const choice of chunk.choices ?? []) {
      const state = candidate(choice.index ?? 0);
      const parts: Part[] = [];
      const delta = choice.delta;
      if (delta) {
        const reasoning = delta.reasoning_content ?? delta.reasoning;
        if (typeof reasoning === 'string' && reasoning !== '') {
          outputChars += reasoning.length;
          if (opts.includeThoughts) parts.push({ text: reasoning, thought: true });
        }
        if (typeof delta.content === 'string' && delta.content !== '') {
          outputChars += delta.content.length;
          parts.push(...sendCalls(state, true), { text: delta.content });
        }
        for (const fragment of delta.tool_calls ?? []) onCallFragment(state, fragment, parts);
        parts.push(...sendCalls(state, false));
      }
      if (choice.finish_reason) {
        state.finish = choice.finish_reason;
        parts.push(...sendCalls(state, true));
      }
      if (parts.length > 0) out.push(partsObject(state.index, parts));
    }
    // The usage chunk (or a finish carrying usage) ends the answer; [DONE] is only a formality.
    if (usage && allFinished()) out.push(finalObject());
    return out;
  }

  /** The upstream closed cleanly: without [DONE] or a finish_reason the answer is cut short. */
  function end(): GenerateContentResponse[] {
    if (finished) return [];
    if (allFinished()) return [finalObject()];
    finished = true;
    throw new ProxyError(502, 'upstream_stream_truncated', 'upstream ended the stream before the answer was complete');
  }

  return { event, end };
}
