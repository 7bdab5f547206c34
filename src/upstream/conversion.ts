/**
 * Where the hub meets a native upstream: a chat request is translated for the upstream's format,
 * and whatever the upstream commits (a body, or a stream after its first events) is turned back
 * into chat form, so that every client handler keeps reading chat completions and chat chunks.
 * A stream is converted one upstream chunk at a time, as it is relayed.
 */
import { createParser } from 'eventsource-parser';
import { ProxyError } from '../errors.js';
import type { ChatStreamAdapter, Json } from '../translate/chat/upstream-common.js';
import { chatToMessages } from '../translate/anthropic/upstream-request.js';
import { messagesToChat } from '../translate/anthropic/upstream-response.js';
import { messagesStreamToChat } from '../translate/anthropic/upstream-stream.js';
import { chatToGemini } from '../translate/gemini/upstream-request.js';
import { geminiToChat } from '../translate/gemini/upstream-response.js';
import { geminiStreamToChat } from '../translate/gemini/upstream-stream.js';
import { chatToResponses } from '../translate/responses/upstream-request.js';
import { responsesToChat } from '../translate/responses/upstream-response.js';
import { errorStatus, responsesStreamToChat } from '../translate/responses/upstream-stream.js';
import type { UpstreamFormat } from './families.js';

export type NativeFormat = Exclude<UpstreamFormat, 'openai'>;

/** The upstream request body for a chat request. */
export function chatRequestFor(format: NativeFormat, chat: Json, model: string): string {
  switch (format) {
    case 'anthropic':
      return JSON.stringify(chatToMessages(chat, model));
    case 'gemini':
      return JSON.stringify(chatToGemini(chat));
    case 'responses':
      return JSON.stringify(chatToResponses(chat, model));
  }
}

/** A native non-stream answer as a chat completion body; an unreadable one is left as it is. */
export function chatBodyFrom(format: NativeFormat, body: Buffer, model: string): Buffer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return body;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || 'error' in parsed) return body;
  const json = parsed as Json;
  const chat = format === 'anthropic' ? messagesToChat(json, model) : format === 'gemini' ? geminiToChat(json, model) : responsesToChat(json, model);
  return Buffer.from(JSON.stringify(chat));
}

function streamAdapter(format: NativeFormat, model: string): ChatStreamAdapter {
  if (format === 'anthropic') return messagesStreamToChat(model);
  if (format === 'gemini') return geminiStreamToChat(model);
  return responsesStreamToChat(model);
}

/** The parts of a committed stream this module rewrites. */
export interface RawStream {
  readonly prelude: readonly Buffer[];
  readonly rest: AsyncIterator<Buffer>;
  readonly abort: () => void;
}

/**
 * The same stream as chat SSE: the prelude converted at once, the rest converted chunk by chunk as
 * the relay pulls it. An adapter error (a failed or truncated upstream stream) closes the upstream
 * and rejects the pull, which the relay turns into the client's error event.
 */
export function chatStreamFrom(format: NativeFormat, stream: RawStream, model: string): RawStream {
  const adapter = streamAdapter(format, model);
  let out = '';
  const parser = createParser({ onEvent: (event) => (out += adapter.event(event.event, event.data)) });
  const decoder = new TextDecoder();
  const convert = (chunk: Buffer): string => {
    out = '';
    parser.feed(decoder.decode(chunk, { stream: true }));
    return out;
  };
  let ended = false;
  const fail = (err: unknown): never => {
    stream.abort();
    throw err instanceof ProxyError ? err : new ProxyError(502, 'upstream_stream_error', 'upstream stream could not be read');
  };
  let prelude: Buffer;
  try {
    prelude = Buffer.from(stream.prelude.map(convert).join(''));
  } catch (err) {
    return fail(err);
  }
  const rest: AsyncIterator<Buffer> = {
    async next() {
      while (!ended) {
        const next = await stream.rest.next();
        let text: string;
        try {
          if (next.done) {
            ended = true;
            text = adapter.end();
          } else {
            text = convert(next.value);
          }
        } catch (err) {
          ended = true;
          return fail(err);
        }
        if (text !== '') return { done: false, value: Buffer.from(text) };
      }
      return { done: true, value: undefined };
    },
  };
  return { prelude: prelude.length > 0 ? [prelude] : [], rest, abort: stream.abort };
}

/** What the first events of a stream say: keep reading, commit, or fail over with this error. */
export type ProbeResult = 'wait' | 'commit' | { readonly status: number; readonly body: Buffer };

const ANTHROPIC_ERROR_STATUS: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};

function parse(data: string): Json | undefined {
  try {
    const v = JSON.parse(data) as unknown;
    return typeof v === 'object' && v !== null ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** A `{"error": {...}}` first event (OpenAI-compatible servers and Gemini answer 200 and say so). */
function errorObject(data: string): ProbeResult {
  if (!(data.startsWith('{"error"') || /^\{\s*"error"\s*:/.test(data))) return 'commit';
  const code = (parse(data)?.error as { code?: unknown } | undefined)?.code;
  return { status: typeof code === 'number' && code >= 400 && code <= 599 ? code : 502, body: Buffer.from(data) };
}

/**
 * Judges a stream's events before it is committed. Anthropic opens with message_start and pings,
 * Responses with response.created / in_progress: an error right after those still fails over.
 */
export function probeEvent(format: UpstreamFormat, data: string): ProbeResult {
  if (format === 'openai' || format === 'gemini') return errorObject(data);
  const ev = parse(data);
  if (!ev) return 'commit';
  if (format === 'anthropic') {
    if (ev.type === 'message_start' || ev.type === 'ping') return 'wait';
    if (ev.type !== 'error') return 'commit';
    const type = (ev.error as { type?: string } | undefined)?.type ?? '';
    return { status: ANTHROPIC_ERROR_STATUS[type] ?? 502, body: Buffer.from(data) };
  }
  if (ev.type === 'response.created' || ev.type === 'response.in_progress') return 'wait';
  if (ev.type !== 'error' && ev.type !== 'response.failed') return 'commit';
  const error = (ev.type === 'error' ? ev : ((ev.response as Json | undefined)?.error ?? {})) as Json;
  const code = typeof error.code === 'string' ? error.code : '';
  const body = Buffer.from(JSON.stringify({ error: { message: error.message ?? 'upstream failed', type: code || 'server_error', code: code || null } }));
  return { status: errorStatus(code), body };
}
