/**
 * What the upstream adapters (chat → Anthropic / Gemini / Responses and back) share: reading a
 * chat request tolerantly (any OpenAI client may send it, not only our own hub), and writing chat
 * completions and chunks. Pure functions over parsed JSON.
 */

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
export const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** One piece of a chat message's content, normalised. */
export type Part =
  | { kind: 'text'; text: string }
  | { kind: 'image'; url: string; data?: { mediaType: string; base64: string } }
  | { kind: 'file'; filename?: string; data?: { mediaType: string; base64: string }; url?: string };

/** `data:<type>;base64,<data>` → its parts, else undefined. */
export function parseDataUrl(url: string): { mediaType: string; base64: string } | undefined {
  const m = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s.exec(url);
  return m ? { mediaType: m[1]!, base64: m[2]! } : undefined;
}

/** A chat message's content (string, parts, or null) as normalised parts; unknown part types dropped. */
export function contentParts(content: unknown): Part[] {
  if (typeof content === 'string') return content === '' ? [] : [{ kind: 'text', text: content }];
  const parts: Part[] = [];
  for (const p of asArray(content)) {
    if (!isObject(p)) continue;
    if ((p.type === 'text' || p.type === 'input_text') && typeof p.text === 'string') parts.push({ kind: 'text', text: p.text });
    else if (p.type === 'image_url') {
      const url = isObject(p.image_url) ? str(p.image_url.url) : str(p.image_url);
      if (url) parts.push({ kind: 'image', url, data: parseDataUrl(url) });
    } else if (p.type === 'file' && isObject(p.file)) {
      const fileData = str(p.file.file_data);
      parts.push({ kind: 'file', filename: str(p.file.filename), data: fileData ? parseDataUrl(fileData) : undefined });
    }
  }
  return parts;
}

/** The text of a content value (tool results, system messages): text parts joined. */
export function contentText(content: unknown): string {
  return contentParts(content)
    .map((p) => (p.kind === 'text' ? p.text : ''))
    .join('');
}

/** A chat tool call as read from a request: arguments parsed to an object when they are JSON. */
export interface ToolCallIn {
  readonly id: string;
  readonly name: string;
  readonly args: Json;
  readonly rawArgs: string;
}

export function toolCallsOf(message: Json): ToolCallIn[] {
  const out: ToolCallIn[] = [];
  asArray(message.tool_calls).forEach((c, i) => {
    if (!isObject(c) || !isObject(c.function)) return;
    const rawArgs = str(c.function.arguments) ?? '';
    out.push({ id: str(c.id) ?? `call_${i}`, name: str(c.function.name) ?? '', args: parseArgs(rawArgs), rawArgs });
  });
  return out;
}

/** Tool arguments as an object; text that is not a JSON object is kept under `input`, never lost. */
export function parseArgs(raw: string): Json {
  if (raw.trim() === '') return {};
  try {
    const v = JSON.parse(raw) as unknown;
    return isObject(v) ? v : { input: v };
  } catch {
    return { input: raw };
  }
}

/** The chat request's tools, function tools only. */
export function functionTools(tools: unknown): Array<{ name: string; description?: string; parameters: Json }> {
  const out: Array<{ name: string; description?: string; parameters: Json }> = [];
  for (const t of asArray(tools)) {
    if (!isObject(t) || !isObject(t.function)) continue;
    const name = str(t.function.name);
    if (!name) continue;
    const parameters = isObject(t.function.parameters) ? t.function.parameters : { type: 'object', properties: {} };
    out.push({ name, description: str(t.function.description), parameters });
  }
  return out;
}

/** `stop` as a list (OpenAI accepts a string or an array). */
export function stopList(stop: unknown): string[] | undefined {
  if (typeof stop === 'string') return [stop];
  const list = asArray(stop).filter((s): s is string => typeof s === 'string');
  return list.length > 0 ? list : undefined;
}

/** `max_completion_tokens` (newer clients) or `max_tokens`. */
export const maxTokensOf = (req: Json): number | undefined => num(req.max_completion_tokens) ?? num(req.max_tokens);

/** Token budget for a reasoning effort, for APIs that take a budget instead of a level. */
export function thinkingBudget(effort: unknown): number | undefined {
  switch (effort) {
    case 'minimal':
      return 512;
    case 'low':
      return 1024;
    case 'medium':
      return 8192;
    case 'high':
      return 24576;
    case 'xhigh':
      return 32768;
    default:
      return undefined;
  }
}

/** Chat usage in OpenAI's shape. */
export function chatUsage(input: number, output: number, cached = 0, reasoning = 0): Json {
  const usage: Json = { prompt_tokens: input, completion_tokens: output, total_tokens: input + output };
  if (cached > 0) usage.prompt_tokens_details = { cached_tokens: cached };
  if (reasoning > 0) usage.completion_tokens_details = { reasoning_tokens: reasoning };
  return usage;
}

/** One chat tool call of an answer. */
export interface ToolCallOut {
  id: string;
  name: string;
  arguments: string;
}

/** A chat completion with one choice. */
export function chatCompletion(o: {
  id: string;
  model: string;
  created?: number;
  text: string;
  reasoning?: string;
  toolCalls: readonly ToolCallOut[];
  finish: string;
  usage?: Json;
}): Json {
  const message: Json = { role: 'assistant', content: o.text === '' && o.toolCalls.length > 0 ? null : o.text };
  if (o.reasoning) message.reasoning_content = o.reasoning;
  if (o.toolCalls.length > 0) {
    message.tool_calls = o.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
  }
  const out: Json = {
    id: o.id,
    object: 'chat.completion',
    created: o.created ?? Math.floor(Date.now() / 1000),
    model: o.model,
    choices: [{ index: 0, message, finish_reason: o.finish }],
  };
  if (o.usage) out.usage = o.usage;
  return out;
}

/** Writes chat chunks as SSE wire text; one per stream (id, model and created stay the same). */
export class ChunkWriter {
  private readonly created = Math.floor(Date.now() / 1000);
  constructor(
    public id: string,
    public model: string,
  ) {}

  private frame(choices: unknown[], usage?: Json): string {
    const chunk: Json = { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices };
    if (usage) chunk.usage = usage;
    return `data: ${JSON.stringify(chunk)}\n\n`;
  }

  delta(delta: Json, finish: string | null = null): string {
    return this.frame([{ index: 0, delta, finish_reason: finish }]);
  }

  /** The final usage chunk (`stream_options.include_usage`): no choices. */
  usage(usage: Json): string {
    return this.frame([], usage);
  }

  done(): string {
    return 'data: [DONE]\n\n';
  }
}

/**
 * Turns a native upstream stream into chat chunks, one native event at a time (no buffering).
 * `event` returns the chat SSE text for one event ('' for none); `end` the text after the upstream
 * closed. Both throw a ProxyError when the stream says it failed or ended before its last event,
 * so that a broken stream reaches the client as broken.
 */
export interface ChatStreamAdapter {
  event(name: string | undefined, data: string): string;
  end(): string;
}

/** Parses one event's JSON; a malformed event is skipped (undefined) rather than ending the stream. */
export function parseEvent(data: string): Json | undefined {
  try {
    const v = JSON.parse(data) as unknown;
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
