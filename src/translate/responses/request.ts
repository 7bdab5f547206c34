/**
 * Responses request → OpenAI chat completion request, as a pure function. `instructions` and the
 * developer/system messages that open the conversation become one system message (later ones are
 * user text in place); input items keep their order: messages, `function_call` /
 * `custom_tool_call` → assistant tool calls (calls in a row share one assistant message),
 * `*_output` → tool messages. Reasoning items signed by
 * another provider (`encrypted_content`) cannot be checked by a chat upstream: dropped. Fields
 * without a chat meaning (`include`, `prompt_cache_key`, `client_metadata`, `store`, ...) are
 * dropped, never a 400.
 */
import { ProxyError, badRequest } from '../../errors.js';
import type { ChatContentPart, ChatMessage, ChatRequest, ChatToolCall, ChatToolChoice } from '../openai-chat.js';
// The hub's ordering rules for tool turns (written for the Anthropic spoke; they hold for any chat request).
import { repairToolTurns } from '../chat/tool-turns.js';
import { summaryMessage } from './compaction.js';
import { chatTools, qualifiedName } from './tools.js';
import type { Json, ToolMap } from './types.js';

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const invalid = (path: string, message: string): ProxyError => badRequest(`${path}: ${message}`, 'invalid_request');

function text(v: unknown, path: string): string {
  if (typeof v !== 'string') throw invalid(path, 'must be a string');
  return v;
}

function number(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(path, 'must be a number');
  return v;
}

type AssistantMessage = Extract<ChatMessage, { role: 'assistant' }> & { reasoning_content?: string };

/** The conversation being built, with what the next items need to know. */
interface Builder {
  readonly messages: ChatMessage[];
  /** Leading system text (instructions, then opening developer messages). */
  system: string[];
  /** True once a non-system message was added: later developer messages stay where they are. */
  opened: boolean;
  /** Summary text of a reasoning item, given to the assistant message that follows it. */
  reasoning: string;
  /** Images from tool outputs, sent as one user message after the run of tool messages. */
  media: ChatContentPart[];
  readonly tools: ToolMap;
}

function push(b: Builder, message: ChatMessage): void {
  if (message.role !== 'tool' && b.media.length > 0) {
    b.messages.push({ role: 'user', content: b.media });
    b.media = [];
  }
  b.opened = true;
  b.messages.push(message);
}

function imagePart(part: Json, path: string): ChatContentPart {
  const url = part.image_url;
  if (typeof url !== 'string' || url === '') {
    throw invalid(`${path}.image_url`, 'only images given by URL or data URL can be forwarded (file_id needs the OpenAI Files API)');
  }
  const image: { url: string; detail?: string } = { url };
  if (part.detail === 'low' || part.detail === 'high' || part.detail === 'auto') image.detail = part.detail;
  return { type: 'image_url', image_url: image };
}

function filePart(part: Json, path: string): ChatContentPart {
  const file: { file_data?: string; file_id?: string; filename?: string } = {};
  if (typeof part.file_data === 'string') file.file_data = part.file_data;
  else if (typeof part.file_id === 'string') file.file_id = part.file_id;
  else throw invalid(path, 'an input_file needs file_data or file_id');
  if (typeof part.filename === 'string') file.filename = part.filename;
  return { type: 'file', file };
}

/** Content parts of a message (or of a tool output given as parts). */
function parts(content: unknown, path: string): ChatContentPart[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw invalid(path, 'must be a string or an array of content parts');
  const out: ChatContentPart[] = [];
  content.forEach((part, i) => {
    const at = `${path}.${i}`;
    if (typeof part === 'string') return void out.push({ type: 'text', text: part });
    if (!isObject(part)) throw invalid(at, 'must be an object');
    switch (part.type) {
      case 'input_text':
      case 'output_text':
      case 'text':
      case 'summary_text':
        out.push({ type: 'text', text: text(part.text, `${at}.text`) });
        break;
      case 'refusal':
        out.push({ type: 'text', text: text(part.refusal, `${at}.refusal`) });
        break;
      case 'input_image':
        out.push(imagePart(part, at));
        break;
      case 'input_file':
        out.push(filePart(part, at));
        break;
      default:
        break; // audio and other parts a chat upstream cannot take
    }
  });
  return out;
}

/** The text of parts; separate parts (Codex sends several blocks in one message) stay apart. */
const textOf = (list: ChatContentPart[], separator = '\n\n'): string =>
  list
    .filter((p) => p.type === 'text')
    .map((p) => (p as { text: string }).text)
    .join(separator);

/** Text-only content goes as a string (the form every OpenAI-compatible server accepts). */
const userContent = (list: ChatContentPart[]): string | ChatContentPart[] => (list.every((p) => p.type === 'text') ? textOf(list) : list);

function appendMessage(b: Builder, item: Json, path: string): void {
  const role = item.role;
  const content = parts(item.content, `${path}.content`);
  if (role === 'system' || role === 'developer') {
    const value = textOf(content);
    // Later ones go as user text, in place: strict upstreams (and many chat templates) reject a
    // system message after the first turn; CLI Proxy API maps them the same way.
    if (!b.opened) b.system.push(value);
    else push(b, { role: 'user', content: value });
    return;
  }
  if (role === 'user') return push(b, { role: 'user', content: userContent(content) });
  if (role !== 'assistant') throw invalid(`${path}.role`, 'must be "user", "assistant", "system" or "developer"');
  const message: AssistantMessage = { role: 'assistant', content: textOf(content, '') };
  if (b.reasoning) message.reasoning_content = b.reasoning;
  b.reasoning = '';
  push(b, message);
}

/** A call joins the assistant message right before it (its text, or the calls made with it). */
function appendCall(b: Builder, call: ChatToolCall): void {
  const last = b.messages.at(-1) as AssistantMessage | undefined;
  if (last?.role === 'assistant' && b.media.length === 0 && !b.reasoning) {
    (last.tool_calls ??= []).push(call);
    return;
  }
  const message: AssistantMessage = { role: 'assistant', content: null, tool_calls: [call] };
  if (b.reasoning) message.reasoning_content = b.reasoning;
  b.reasoning = '';
  push(b, message);
}

/** A tool output: a string, or content parts whose images follow as a user message. */
function appendOutput(b: Builder, item: Json, path: string): void {
  const callId = text(item.call_id, `${path}.call_id`);
  let output = item.output;
  // Codex sends failures as {content, success:false}; older clients send the bare string.
  if (isObject(output) && typeof output.content === 'string') output = output.content;
  let content = '';
  if (typeof output === 'string') content = output;
  else if (output !== undefined && output !== null) {
    const list = parts(output, `${path}.output`);
    content = textOf(list, '');
    b.media.push(...list.filter((p) => p.type !== 'text'));
  }
  b.opened = true;
  b.messages.push({ role: 'tool', tool_call_id: callId, content });
}

/** Summary (or reasoning text) of a reasoning item; nothing when another provider encrypted it. */
function reasoningText(item: Json): string {
  if (typeof item.encrypted_content === 'string' && item.encrypted_content !== '') return '';
  const pieces: string[] = [];
  for (const list of [item.summary, item.content]) {
    if (!Array.isArray(list)) continue;
    for (const part of list) if (isObject(part) && typeof part.text === 'string') pieces.push(part.text);
  }
  return pieces.join('\n\n');
}

function appendItem(b: Builder, item: unknown, path: string): void {
  if (typeof item === 'string') return push(b, { role: 'user', content: item });
  if (!isObject(item)) throw invalid(path, 'must be an object');
  const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
  switch (type) {
    case 'message':
      return appendMessage(b, item, path);
    case 'function_call': {
      const ns = typeof item.namespace === 'string' && item.namespace !== '' ? item.namespace : undefined;
      const name = qualifiedName(ns, text(item.name, `${path}.name`));
      const args = typeof item.arguments === 'string' ? item.arguments : JSON.stringify(item.arguments ?? {});
      return appendCall(b, { id: text(item.call_id, `${path}.call_id`), type: 'function', function: { name, arguments: args } });
    }
    case 'custom_tool_call': {
      const ns = typeof item.namespace === 'string' && item.namespace !== '' ? item.namespace : undefined;
      const name = qualifiedName(ns, text(item.name, `${path}.name`));
      const args = JSON.stringify({ input: typeof item.input === 'string' ? item.input : '' });
      return appendCall(b, { id: text(item.call_id, `${path}.call_id`), type: 'function', function: { name, arguments: args } });
    }
    case 'function_call_output':
    case 'custom_tool_call_output':
      return appendOutput(b, item, path);
    case 'reasoning': {
      const summary = reasoningText(item);
      if (summary) b.reasoning = b.reasoning ? `${b.reasoning}\n\n${summary}` : summary;
      return;
    }
    case 'compaction': {
      // Our own summary comes back as text; another server's encrypted state cannot be read.
      const summary = summaryMessage(item);
      if (summary) push(b, summary);
      return;
    }
    default:
      // Hosted-tool calls (web_search_call, ...), item references, compaction_trigger (handled by
      // the caller, compaction.ts): nothing a chat upstream can replay.
      return;
  }
}

function toolChoice(choice: unknown, tools: ToolMap): ChatToolChoice | undefined {
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  if (!isObject(choice)) return undefined;
  if ((choice.type === 'function' || choice.type === 'custom') && typeof choice.name === 'string') {
    const ns = typeof choice.namespace === 'string' ? choice.namespace : undefined;
    const name = qualifiedName(ns, choice.name);
    return tools.has(name) ? { type: 'function', function: { name } } : 'auto';
  }
  if (choice.type === 'allowed_tools') return choice.mode === 'required' ? 'required' : 'auto';
  return undefined; // a hosted tool: let the model choose among the functions
}

function responseFormat(text: unknown): ChatRequest['response_format'] | undefined {
  const format = isObject(text) ? text.format : undefined;
  if (!isObject(format)) return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type !== 'json_schema') return undefined;
  const schema: { name: string; schema: unknown; description?: string; strict?: boolean } = {
    name: typeof format.name === 'string' && format.name !== '' ? format.name : 'output',
    schema: format.schema,
  };
  if (typeof format.description === 'string') schema.description = format.description;
  if (typeof format.strict === 'boolean') schema.strict = format.strict;
  return { type: 'json_schema', json_schema: schema };
}

export interface TranslatedRequest {
  readonly chat: ChatRequest;
  /** Chat function name → Responses tool, for naming calls back. */
  readonly tools: ToolMap;
}

/**
 * A Responses request as a chat completion request for `model`. `history` holds the items of the
 * conversation so far when the request names a `previous_response_id` (its inputs and outputs).
 */
export function toChat(req: Json, model: string, history: readonly unknown[] = []): TranslatedRequest {
  const input = req.input;
  if (input === undefined || input === null) throw invalid('input', 'is required');
  if (typeof input !== 'string' && !Array.isArray(input)) throw invalid('input', 'must be a string or an array of input items');
  const { tools, map } = chatTools(req.tools);
  const b: Builder = { messages: [], system: [], opened: false, reasoning: '', media: [], tools: map };
  if (typeof req.instructions === 'string' && req.instructions !== '') b.system.push(req.instructions);
  history.forEach((item, i) => appendItem(b, item, `previous_response.${i}`));
  if (typeof input === 'string') push(b, { role: 'user', content: input });
  else input.forEach((item, i) => appendItem(b, item, `input.${i}`));
  if (b.media.length > 0) b.messages.push({ role: 'user', content: b.media });
  const system = b.system.filter((s) => s !== '').join('\n\n');
  // Strict upstreams want each call answered right after it: a call Codex never answered
  // (interrupted) gets a short "no result", consecutive user messages are combined.
  const messages = repairToolTurns(b.messages);
  const chat: ChatRequest = { model, messages: system ? [{ role: 'system', content: system }, ...messages] : messages };
  if (req.max_output_tokens !== undefined && req.max_output_tokens !== null) chat.max_tokens = number(req.max_output_tokens, 'max_output_tokens');
  if (typeof req.temperature === 'number') chat.temperature = req.temperature;
  if (typeof req.top_p === 'number') chat.top_p = req.top_p;
  if (req.stream === true) {
    chat.stream = true;
    chat.stream_options = { include_usage: true }; // usage for response.completed
  }
  if (tools.length > 0) {
    chat.tools = tools;
    const choice = toolChoice(req.tool_choice, map);
    if (choice) chat.tool_choice = choice;
    if (typeof req.parallel_tool_calls === 'boolean') chat.parallel_tool_calls = req.parallel_tool_calls;
  }
  const effort = isObject(req.reasoning) ? req.reasoning.effort : undefined;
  if (typeof effort === 'string' && effort !== '') chat.reasoning_effort = effort.toLowerCase();
  const format = responseFormat(req.text);
  if (format) chat.response_format = format;
  const user = typeof req.safety_identifier === 'string' ? req.safety_identifier : req.user;
  if (typeof user === 'string' && user !== '') chat.user = user;
  return { chat, tools: map };
}
