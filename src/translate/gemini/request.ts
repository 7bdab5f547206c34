/**
 * Gemini generateContent request → OpenAI chat completion request, as a pure function. Requests
 * are untrusted JSON, validated while they are translated: a malformed one is a 400 naming the
 * offending path (`contents[2].parts[0].functionCall.name`). Fields an OpenAI-compatible upstream
 * has no use for (safetySettings, cachedContent, topK, Google's built-in tools) are dropped.
 * Google's REST API takes both camelCase and snake_case field names, so both are read.
 */
import { createHash } from 'node:crypto';
import { ProxyError, badRequest } from '../../errors.js';
import { repairToolTurns } from '../chat/tool-turns.js';
import type { ChatContentPart, ChatMessage, ChatRequest, ChatTool, ChatToolCall, ChatToolChoice } from '../openai-chat.js';
import { toJsonSchema } from './schema.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const invalid = (path: string, message: string): ProxyError => badRequest(`${path}: ${message}`, 'invalid_request');

/** A field by its camelCase or snake_case name. */
function field(obj: Json, camel: string): unknown {
  const value = obj[camel];
  return value !== undefined ? value : obj[camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)];
}

function text(v: unknown, path: string): string {
  if (typeof v !== 'string') throw invalid(path, 'must be a string');
  return v;
}

function number(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(path, 'must be a number');
  return v;
}

const hash = (...items: unknown[]): string => createHash('sha256').update(JSON.stringify(items)).digest('hex').slice(0, 24);

/** Ids every OpenAI-compatible server takes (OpenAI caps them at 40 characters). */
const SAFE_ID = /^[A-Za-z0-9_-]{1,40}$/;
const upstreamId = (id: string): string => (SAFE_ID.test(id) ? id : `call_${hash(id)}`);

/**
 * Tool call ids. Gemini calls and responses may carry an `id` (Gemini CLI sets one) or not (the
 * API never required them): a call without one gets an id derived from its place in the history,
 * which stays the same on every later turn; a response without one answers the oldest unanswered
 * call of the same name, as Gemini pairs them.
 */
class CallIds {
  private readonly pending = new Map<string, string[]>();
  private readonly known = new Set<string>();

  call(given: unknown, name: string, at: string): string {
    const id = typeof given === 'string' && given !== '' ? upstreamId(given) : `call_${hash(at, name)}`;
    this.known.add(id);
    const queue = this.pending.get(name);
    if (queue) queue.push(id);
    else this.pending.set(name, [id]);
    return id;
  }

  response(given: unknown, name: string, at: string): string {
    const queue = this.pending.get(name) ?? [];
    if (typeof given === 'string' && given !== '') {
      const id = upstreamId(given);
      if (this.known.has(id)) {
        const i = queue.indexOf(id);
        if (i >= 0) queue.splice(i, 1);
        return id;
      }
    }
    return queue.shift() ?? `call_${hash(at, name)}`;
  }
}

/** Whether the client asked for the model's thoughts (`thought: true` parts in the answer). */
export function wantsThoughts(req: Json): boolean {
  const config = field(req, 'generationConfig');
  const thinking = isObject(config) ? field(config, 'thinkingConfig') : undefined;
  return isObject(thinking) && field(thinking, 'includeThoughts') === true;
}

const AUDIO_FORMATS: Record<string, string> = { 'audio/wav': 'wav', 'audio/x-wav': 'wav', 'audio/wave': 'wav', 'audio/mpeg': 'mp3', 'audio/mp3': 'mp3' };

/** `inlineData` as the chat content part an OpenAI-compatible server reads. */
function inlinePart(data: unknown, path: string): ChatContentPart {
  if (!isObject(data)) throw invalid(path, 'must be an object');
  const mime = text(field(data, 'mimeType'), `${path}.mimeType`).toLowerCase();
  const base64 = text(data.data, `${path}.data`);
  if (mime.startsWith('image/')) return { type: 'image_url', image_url: { url: `data:${mime};base64,${base64}` } };
  if (mime.startsWith('audio/')) return { type: 'input_audio', input_audio: { data: base64, format: AUDIO_FORMATS[mime] ?? mime.slice(6) } };
  if (mime.startsWith('text/')) return { type: 'text', text: Buffer.from(base64, 'base64').toString('utf8') };
  const filename = typeof data.displayName === 'string' ? data.displayName : mime === 'application/pdf' ? 'document.pdf' : 'document';
  return { type: 'file', file: { file_data: `data:${mime};base64,${base64}`, filename } };
}

/** `fileData` (a URI): images by URL; anything else is named in the text, as no chat part takes a file URL. */
function filePart(data: unknown, path: string): ChatContentPart {
  if (!isObject(data)) throw invalid(path, 'must be an object');
  const uri = text(field(data, 'fileUri'), `${path}.fileUri`);
  const mime = field(data, 'mimeType');
  if (typeof mime === 'string' && mime.startsWith('image/')) return { type: 'image_url', image_url: { url: uri } };
  return { type: 'text', text: `[file: ${uri}${typeof mime === 'string' ? ` (${mime})` : ''}]` };
}

/** A function's result as the tool message's text: a lone `output`/`content` string as is, else JSON. */
function responseText(response: unknown): string {
  if (typeof response === 'string') return response;
  if (isObject(response)) {
    const keys = Object.keys(response);
    const only = keys.length === 1 ? response[keys[0]!] : undefined;
    if ((keys[0] === 'output' || keys[0] === 'content') && typeof only === 'string') return only;
  }
  return JSON.stringify(response ?? {});
}

function userContent(parts: ChatContentPart[]): string | ChatContentPart[] {
  if (parts.every((p) => p.type === 'text')) return parts.map((p) => (p as { text: string }).text).join('\n\n');
  return parts;
}

/** One Gemini content turn, appended as chat messages (tool results first, as OpenAI requires). */
function appendContent(out: ChatMessage[], content: unknown, path: string, ids: CallIds): void {
  if (!isObject(content)) throw invalid(path, 'must be an object');
  const role = content.role ?? 'user';
  if (role !== 'user' && role !== 'model' && role !== 'function') throw invalid(`${path}.role`, 'must be "user" or "model"');
  const parts = content.parts ?? [];
  if (!Array.isArray(parts)) throw invalid(`${path}.parts`, 'must be an array');
  const chatParts: ChatContentPart[] = [];
  const media: ChatContentPart[] = [];
  const calls: ChatToolCall[] = [];
  parts.forEach((part, i) => {
    const at = `${path}.parts[${i}]`;
    if (!isObject(part)) throw invalid(at, 'must be an object');
    if (part.thought === true) return; // thoughts are the model's own; an upstream cannot use them
    const call = field(part, 'functionCall');
    const response = field(part, 'functionResponse');
    const inline = field(part, 'inlineData');
    const file = field(part, 'fileData');
    const code = field(part, 'executableCode');
    const result = field(part, 'codeExecutionResult');
    if (typeof part.text === 'string') chatParts.push({ type: 'text', text: part.text });
    else if (inline !== undefined) chatParts.push(inlinePart(inline, `${at}.inlineData`));
    else if (file !== undefined) chatParts.push(filePart(file, `${at}.fileData`));
    else if (isObject(call)) {
      const name = text(call.name, `${at}.functionCall.name`);
      const args = call.args ?? {};
      calls.push({ id: ids.call(call.id, name, at), type: 'function', function: { name, arguments: JSON.stringify(args) } });
    } else if (isObject(response)) {
      const name = text(response.name, `${at}.functionResponse.name`);
      out.push({ role: 'tool', tool_call_id: ids.response(response.id, name, at), content: responseText(response.response) });
      // Multimodal results (images a tool returned) follow as user content.
      if (Array.isArray(response.parts)) {
        response.parts.forEach((p, j) => {
          const data = isObject(p) ? field(p, 'inlineData') : undefined;
          if (data !== undefined) media.push(inlinePart(data, `${at}.functionResponse.parts[${j}].inlineData`));
        });
      }
    } else if (isObject(code)) chatParts.push({ type: 'text', text: `\`\`\`${String(code.language ?? '').toLowerCase()}\n${String(code.code ?? '')}\n\`\`\`` });
    else if (isObject(result)) chatParts.push({ type: 'text', text: String(result.output ?? '') });
    // Anything else (videoMetadata alone, a bare thoughtSignature) carries nothing to translate.
  });
  if (role === 'model') {
    const texts = chatParts.filter((p) => p.type === 'text').map((p) => (p as { text: string }).text);
    if (texts.length === 0 && calls.length === 0) return;
    const message: ChatMessage = { role: 'assistant', content: texts.length > 0 ? texts.join('') : null };
    if (calls.length > 0) message.tool_calls = calls;
    out.push(message);
    return;
  }
  chatParts.push(...media);
  if (chatParts.length > 0) out.push({ role: 'user', content: userContent(chatParts) });
}

function systemText(system: unknown): string {
  if (system === undefined || system === null) return '';
  if (typeof system === 'string') return system;
  if (!isObject(system) || !Array.isArray(system.parts)) throw invalid('systemInstruction', 'must be a content with parts');
  return system.parts
    .filter((p): p is Json => isObject(p) && typeof p.text === 'string' && p.thought !== true)
    .map((p) => p.text as string)
    .join('\n\n');
}

function tools(list: unknown): ChatTool[] {
  if (!Array.isArray(list)) throw invalid('tools', 'must be an array');
  const out: ChatTool[] = [];
  list.forEach((tool, i) => {
    if (!isObject(tool)) throw invalid(`tools[${i}]`, 'must be an object');
    // googleSearch, codeExecution, urlContext...: Google runs those; an OpenAI upstream has none.
    const declarations = field(tool, 'functionDeclarations');
    if (declarations === undefined) return;
    if (!Array.isArray(declarations)) throw invalid(`tools[${i}].functionDeclarations`, 'must be an array');
    declarations.forEach((decl, j) => {
      const at = `tools[${i}].functionDeclarations[${j}]`;
      if (!isObject(decl)) throw invalid(at, 'must be an object');
      const name = text(decl.name, `${at}.name`);
      const schema = field(decl, 'parametersJsonSchema') ?? decl.parameters;
      const fn: ChatTool['function'] = { name, parameters: schema === undefined ? { type: 'object', properties: {} } : toJsonSchema(schema) };
      if (typeof decl.description === 'string' && decl.description !== '') fn.description = decl.description;
      out.push({ type: 'function', function: fn });
    });
  });
  return out;
}

/** `toolConfig.functionCallingConfig`: ANY limited to some functions offers only those. */
function applyToolConfig(out: ChatRequest, config: unknown): void {
  const calling = isObject(config) ? field(config, 'functionCallingConfig') : undefined;
  if (!isObject(calling) || !out.tools) return;
  const mode = typeof calling.mode === 'string' ? calling.mode.toUpperCase() : 'AUTO';
  const allowed = field(calling, 'allowedFunctionNames');
  let choice: ChatToolChoice | undefined;
  if (mode === 'NONE') choice = 'none';
  else if (mode === 'ANY') {
    const names = Array.isArray(allowed) ? allowed.filter((n): n is string => typeof n === 'string') : [];
    if (names.length > 0) out.tools = out.tools.filter((t) => names.includes(t.function.name));
    if (out.tools.length === 0) {
      delete out.tools; // none of the allowed names is declared: nothing can be called
      return;
    }
    choice = names.length === 1 && out.tools.length === 1 ? { type: 'function', function: { name: names[0]! } } : 'required';
  } else if (mode === 'AUTO' || mode === 'VALIDATED') choice = 'auto';
  if (choice) out.tool_choice = choice;
}

/** A thinking budget as `reasoning_effort` (the same cut-offs as for Anthropic clients). */
function budgetEffort(budget: number): 'low' | 'medium' | 'high' {
  return budget < 8192 ? 'low' : budget < 24576 ? 'medium' : 'high';
}

/** thinkingLevel wins over thinkingBudget; 0 (off) and -1 (dynamic) leave the upstream's default. */
function reasoningEffort(thinking: unknown): ChatRequest['reasoning_effort'] {
  if (!isObject(thinking)) return undefined;
  const level = field(thinking, 'thinkingLevel');
  if (typeof level === 'string') {
    const l = level.toLowerCase();
    if (l === 'minimal' || l === 'low') return 'low';
    if (l === 'medium' || l === 'high') return l;
  }
  const budget = field(thinking, 'thinkingBudget');
  return typeof budget === 'number' && budget > 0 ? budgetEffort(budget) : undefined;
}

function responseFormat(config: Json): ChatRequest['response_format'] {
  const mime = field(config, 'responseMimeType');
  if (typeof mime !== 'string' || mime.toLowerCase() !== 'application/json') return undefined;
  const schema = field(config, 'responseJsonSchema') ?? field(config, 'responseSchema');
  if (schema === undefined || schema === null) return { type: 'json_object' };
  return { type: 'json_schema', json_schema: { name: 'response', schema: toJsonSchema(schema) } };
}

function applyGenerationConfig(out: ChatRequest, config: unknown): void {
  if (config === undefined || config === null) return;
  if (!isObject(config)) throw invalid('generationConfig', 'must be an object');
  const at = (name: string) => `generationConfig.${name}`;
  const get = (name: string) => field(config, name);
  if (get('temperature') !== undefined) out.temperature = number(get('temperature'), at('temperature'));
  if (get('topP') !== undefined) out.top_p = number(get('topP'), at('topP'));
  if (get('maxOutputTokens') !== undefined) out.max_tokens = number(get('maxOutputTokens'), at('maxOutputTokens'));
  if (get('presencePenalty') !== undefined) out.presence_penalty = number(get('presencePenalty'), at('presencePenalty'));
  if (get('frequencyPenalty') !== undefined) out.frequency_penalty = number(get('frequencyPenalty'), at('frequencyPenalty'));
  if (get('seed') !== undefined) out.seed = number(get('seed'), at('seed'));
  const count = get('candidateCount');
  if (count !== undefined && number(count, at('candidateCount')) > 1) out.n = count as number;
  const stop = get('stopSequences');
  if (stop !== undefined) {
    if (!Array.isArray(stop)) throw invalid(at('stopSequences'), 'must be an array of strings');
    if (stop.length > 0) out.stop = stop.map((s, i) => text(s, `${at('stopSequences')}[${i}]`));
  }
  const format = responseFormat(config);
  if (format) out.response_format = format;
  const effort = reasoningEffort(get('thinkingConfig'));
  if (effort) out.reasoning_effort = effort;
}

/** A Gemini generateContent request as an OpenAI chat completion request for `model`. */
export function toChat(req: Json, model: string, stream: boolean): ChatRequest {
  const contents = req.contents;
  if (!Array.isArray(contents)) throw invalid('contents', 'must be an array');
  const out: ChatRequest = { model, messages: [] };
  const system = systemText(field(req, 'systemInstruction'));
  if (system !== '') out.messages.push({ role: 'system', content: system });
  const ids = new CallIds();
  contents.forEach((content, i) => appendContent(out.messages, content, `contents[${i}]`, ids));
  // Strict upstreams want each call answered right after it: unanswered calls (a cancelled tool)
  // get a "no result" message, answers without their call become text.
  out.messages = repairToolTurns(out.messages);
  applyGenerationConfig(out, field(req, 'generationConfig'));
  if (stream) {
    out.stream = true;
    // Without it OpenAI-style servers send no usage in streams, and usageMetadata would have none.
    out.stream_options = { include_usage: true };
  }
  if (req.tools !== undefined && req.tools !== null) {
    const list = tools(req.tools);
    if (list.length > 0) out.tools = list;
  }
  applyToolConfig(out, field(req, 'toolConfig'));
  return out;
}
