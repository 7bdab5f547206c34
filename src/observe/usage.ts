/**
 * Token usage as the upstream reports it: from a non-stream body, and from a stream's final usage
 * chunk, which cliproxy asks for (`stream_options.include_usage`) and passes on only when the client
 * asked for it too. Pass-through bytes are never parsed whole: a chunk is looked at only when it
 * contains the text `"usage"`, and then only the usage object is parsed.
 */

/** Token counts of one request, in CLI Proxy API's terms. */
export interface Usage {
  readonly input: number;
  readonly output: number;
  readonly reasoning: number;
  readonly cached: number;
  readonly total: number;
}

const NEEDLE = Buffer.from('"usage"');
/** Gemini's key for the same (a gemini-api-key answer relayed as it came). */
export const GEMINI_USAGE_KEY = Buffer.from('"usageMetadata"');
const QUOTE = 34;
const BACKSLASH = 92;
/** A usage object larger than this is not one. */
const MAX_USAGE_CHARS = 16 * 1024;
/** Longest partial event held back waiting for its end. */
const MAX_HELD = 256 * 1024;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {});

/** OpenAI chat/completions/embeddings usage (and the Responses API / DeepSeek variants) → Usage. */
export function normalizeUsage(raw: unknown): Usage | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const u = raw as Record<string, unknown>;
  if (u.promptTokenCount !== undefined || u.candidatesTokenCount !== undefined) return geminiUsage(u);
  const input = num(u.prompt_tokens ?? u.input_tokens);
  const output = num(u.completion_tokens ?? u.output_tokens);
  const reasoning = num(obj(u.completion_tokens_details ?? u.output_tokens_details).reasoning_tokens);
  const cached = num(obj(u.prompt_tokens_details ?? u.input_tokens_details).cached_tokens ?? u.prompt_cache_hit_tokens);
  const total = num(u.total_tokens) || input + output;
  return { input, output, reasoning, cached, total };
}

/** Gemini's usageMetadata: output counts the thoughts too, as completion_tokens does. */
function geminiUsage(u: Record<string, unknown>): Usage {
  const input = num(u.promptTokenCount);
  const reasoning = num(u.thoughtsTokenCount);
  const output = num(u.candidatesTokenCount) + reasoning;
  return { input, output, reasoning, cached: num(u.cachedContentTokenCount), total: num(u.totalTokenCount) || input + output };
}

/** End index (exclusive) of the JSON object starting at `start` (a `{`), or -1 if it does not end in `text`. */
function objectEnd(text: string, start: number): number {
  let depth = 0;
  const limit = Math.min(text.length, start + MAX_USAGE_CHARS);
  for (let i = start; i < limit; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      for (i++; i < limit; i++) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
    } else if (c === 123 /* { */) depth++;
    else if (c === 125 /* } */ && --depth === 0) return i + 1;
  }
  return -1;
}

const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

/**
 * The usage object whose `"usage"` key starts at `at`: a Usage, 'none' when the value is not an
 * object (`"usage":null` in every chunk but the last is common), 'partial' when it is cut off.
 * Inside a JSON string a quote is always escaped, so `"usage"` followed by `:` is a key.
 */
function usageAt(text: string, at: number, keyLength = NEEDLE.length): Usage | 'none' | 'partial' {
  let i = at + keyLength;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  if (i === text.length) return 'partial';
  if (text.charCodeAt(i) !== 58 /* : */) return 'none';
  i++;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  if (i === text.length) return 'partial';
  if (text.charCodeAt(i) !== 123) return 'none';
  const end = objectEnd(text, i);
  if (end < 0) return text.length - i < MAX_USAGE_CHARS ? 'partial' : 'none';
  try {
    return normalizeUsage(JSON.parse(text.slice(i, end))) ?? 'none';
  } catch {
    return 'none';
  }
}

/** Usage of a non-stream JSON answer (the last `"usage"` object in it: it is top-level and comes last). */
export function usageFromBody(body: Buffer, key: Buffer = NEEDLE): Usage | undefined {
  let at = body.lastIndexOf(key);
  while (at >= 0) {
    const found = usageAt(body.toString('utf8', at, Math.min(body.length, at + MAX_USAGE_CHARS)), 0, key.length);
    if (typeof found === 'object') return found;
    at = at > 0 ? body.lastIndexOf(key, at - 1) : -1;
  }
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface StreamUsageRequest {
  /** The body to send upstream. */
  readonly body: string;
  /** The client asked for the usage chunk itself; otherwise it is removed from the stream. */
  readonly clientAsked: boolean;
}

/**
 * Adds `stream_options.include_usage: true` to a stream request. When the client sent no
 * stream_options (the usual case) the field is inserted after the opening brace, so the rest of
 * the body goes out byte for byte; a client's own stream_options object is re-serialised (rare).
 */
export function requestStreamUsage(raw: string, json: Record<string, unknown>): StreamUsageRequest {
  const options = json.stream_options;
  if (isObject(options) && options.include_usage === true) return { body: raw, clientAsked: true };
  if (options === undefined) {
    const brace = raw.indexOf('{');
    return { body: `${raw.slice(0, brace + 1)}"stream_options":{"include_usage":true},${raw.slice(brace + 1)}`, clientAsked: false };
  }
  const body = JSON.stringify({ ...json, stream_options: { ...(isObject(options) ? options : {}), include_usage: true } });
  return { body, clientAsked: false };
}

/** An upstream that rejects stream_options (some older OpenAI-compatible servers validate strictly). */
export function rejectsStreamOptions(status: number, body: Buffer): boolean {
  return (status === 400 || status === 422) && body.includes('stream_options');
}

const EVENT_END = /\r\n\r\n|\n\n|\r\r/g;
const EMPTY_CHOICES = /"choices"\s*:\s*\[\s*\]/;

/** Index just past the last blank line (end of an SSE event) in `buf`, or 0 if there is none. */
function lastEventEnd(buf: Buffer): number {
  const n = buf.length;
  // Fast path: upstreams write whole events, so a chunk nearly always ends with one.
  if (n >= 2 && buf[n - 1] === 10 && (buf[n - 2] === 10 || (n >= 4 && buf[n - 2] === 13 && buf[n - 3] === 10))) return n;
  const after = (needle: string) => {
    const at = buf.lastIndexOf(needle);
    return at < 0 ? 0 : at + needle.length;
  };
  return Math.max(after('\n\n'), after('\n\r\n'), after('\r\r'));
}

/**
 * Watches a stream's chunks for the usage event. Chunks are cut at event boundaries (a partial
 * event is held until its end arrives: a client cannot use half an event anyway), so an event
 * is always whole when looked at, and a usage-only event (`"choices":[]`) can be removed when the
 * client did not ask for it.
 */
export class UsageTap {
  usage: Usage | undefined = undefined;
  private held: Buffer | undefined = undefined;

  private readonly keyText: string;

  /** `key`: the usage object's key with its quotes (`"usage"`, or Gemini's `"usageMetadata"`). */
  constructor(
    private readonly strip: boolean,
    private readonly key: Buffer = NEEDLE,
  ) {
    this.keyText = key.toString('latin1');
  }

  /** The bytes to relay for this upstream chunk (possibly fewer, never re-serialised). */
  chunk(chunk: Buffer): Buffer {
    let buf = chunk;
    if (this.held !== undefined) {
      buf = Buffer.concat([this.held, chunk]);
      this.held = undefined;
    }
    const end = lastEventEnd(buf);
    // Something that never ends an event (not really SSE) is passed on rather than held.
    if (end < buf.length && buf.length - end <= MAX_HELD) {
      this.held = buf.subarray(end);
      buf = buf.subarray(0, end);
    }
    return buf.indexOf(this.key) < 0 ? buf : this.events(buf);
  }

  /** What is left at the end of the stream (an unterminated last event, passed on as it came). */
  flush(): Buffer | undefined {
    const rest = this.held;
    this.held = undefined;
    if (rest !== undefined && rest.indexOf(this.key) >= 0) this.find(rest.toString('utf8'));
    return rest;
  }

  private find(text: string): void {
    for (let at = text.indexOf(this.keyText); at >= 0; at = text.indexOf(this.keyText, at + this.key.length)) {
      const found = usageAt(text, at, this.key.length);
      // Anthropic streams report input tokens in message_start and output tokens in message_delta.
      if (typeof found === 'object') this.usage = this.usage && found.input === 0 ? { ...found, input: this.usage.input, cached: found.cached || this.usage.cached, total: this.usage.input + found.output } : found;
    }
  }

  /** Slow path, for the chunk holding the usage event: record it, and drop it if nobody asked. */
  private events(buf: Buffer): Buffer {
    const text = buf.toString('utf8');
    if (!this.strip) {
      this.find(text);
      return buf;
    }
    let out = '';
    let start = 0;
    let removed = false;
    EVENT_END.lastIndex = 0;
    for (let m = EVENT_END.exec(text); m !== null; m = EVENT_END.exec(text)) {
      const end = m.index + m[0].length;
      const event = text.slice(start, end);
      const before = this.usage;
      if (event.includes(this.keyText)) this.find(event);
      if (this.usage !== before && EMPTY_CHOICES.test(event)) removed = true;
      else out += event;
      start = end;
    }
    return removed ? Buffer.from(out + text.slice(start)) : buf;
  }
}
