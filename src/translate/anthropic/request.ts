/**
 * Anthropic Messages request → OpenAI chat completion request, as a pure function. Requests are
 * untrusted JSON, so they are validated while they are translated; a malformed one is a 400 that
 * names the offending path (`messages.2.content.0.source`), as Anthropic's own API does.
 */
import { ProxyError, badRequest } from '../../errors.js';
import type { ChatContentPart, ChatMessage, ChatRequest, ChatTool, ChatToolCall, ChatToolChoice } from '../openai-chat.js';

type Json = Record<string, unknown>;

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

/** `system` as one string: OpenAI-compatible servers do not all take content parts in a system message. */
function systemText(system: unknown): string {
  if (system === undefined || system === null) return '';
  if (typeof system === 'string') return system;
  if (!Array.isArray(system)) throw invalid('system', 'must be a string or an array of text blocks');
  return system
    .map((block, i) => {
      if (!isObject(block) || block.type !== 'text') throw invalid(`system.${i}`, 'must be a text block');
      return text(block.text, `system.${i}.text`);
    })
    .join('\n\n');
}

function imagePart(block: Json, path: string): ChatContentPart {
  const source = block.source;
  if (!isObject(source)) throw invalid(`${path}.source`, 'must be an object');
  if (source.type === 'base64') {
    const url = `data:${text(source.media_type, `${path}.source.media_type`)};base64,${text(source.data, `${path}.source.data`)}`;
    return { type: 'image_url', image_url: { url } };
  }
  if (source.type === 'url') return { type: 'image_url', image_url: { url: text(source.url, `${path}.source.url`) } };
  throw invalid(`${path}.source.type`, 'only "base64" and "url" image sources can be forwarded');
}

/** PDFs become OpenAI `file` parts; plain-text documents become text. */
function documentPart(block: Json, path: string): ChatContentPart {
  const source = block.source;
  if (!isObject(source)) throw invalid(`${path}.source`, 'must be an object');
  if (source.type === 'text') return { type: 'text', text: text(source.data, `${path}.source.data`) };
  if (source.type === 'base64') {
    const mediaType = text(source.media_type, `${path}.source.media_type`);
    const filename = typeof block.title === 'string' ? block.title : 'document.pdf';
    return { type: 'file', file: { file_data: `data:${mediaType};base64,${text(source.data, `${path}.source.data`)}`, filename } };
  }
  throw invalid(`${path}.source.type`, 'only "base64" and "text" document sources can be forwarded');
}

/** Blocks an OpenAI upstream has no use for: thinking is signed by Anthropic, which it cannot check. */
const DROPPED_BLOCKS = new Set(['thinking', 'redacted_thinking']);

/** A tool_result's content as the tool message's text; its images and documents go to `media`. */
function toolResultText(content: unknown, path: string, media: ChatContentPart[]): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid(path, 'must be a string or an array of blocks');
  const texts: string[] = [];
  content.forEach((block, i) => {
    const at = `${path}.${i}`;
    if (!isObject(block)) throw invalid(at, 'must be an object');
    if (block.type === 'text') texts.push(text(block.text, `${at}.text`));
    else if (block.type === 'image') media.push(imagePart(block, at));
    else if (block.type === 'document') media.push(documentPart(block, at));
    else throw invalid(`${at}.type`, `unsupported block type ${JSON.stringify(block.type)} in a tool_result`);
  });
  return texts.join('\n');
}

/** Text-only content goes as a string (the form every OpenAI-compatible server accepts). */
function userContent(parts: ChatContentPart[]): string | ChatContentPart[] {
  if (parts.every((p) => p.type === 'text')) return parts.map((p) => (p as { text: string }).text).join('\n\n');
  return parts;
}

/** A user turn: tool results become `tool` messages, placed first as OpenAI requires. */
function appendUser(out: ChatMessage[], content: unknown[], path: string): void {
  const parts: ChatContentPart[] = [];
  const media: ChatContentPart[] = [];
  content.forEach((block, i) => {
    const at = `${path}.${i}`;
    if (!isObject(block)) throw invalid(at, 'must be an object');
    switch (block.type) {
      case 'text':
        parts.push({ type: 'text', text: text(block.text, `${at}.text`) });
        break;
      case 'image':
        parts.push(imagePart(block, at));
        break;
      case 'document':
        parts.push(documentPart(block, at));
        break;
      case 'tool_result': {
        const content = toolResultText(block.content, `${at}.content`, media);
        out.push({ role: 'tool', tool_call_id: text(block.tool_use_id, `${at}.tool_use_id`), content });
        break;
      }
      default:
        if (!DROPPED_BLOCKS.has(block.type as string)) throw invalid(`${at}.type`, `unsupported block type ${JSON.stringify(block.type)}`);
    }
  });
  // A tool message holds text only: images a tool returned follow as user content.
  parts.push(...media);
  if (parts.length > 0) out.push({ role: 'user', content: userContent(parts) });
}

function appendAssistant(out: ChatMessage[], content: unknown[], path: string): void {
  const texts: string[] = [];
  const calls: ChatToolCall[] = [];
  content.forEach((block, i) => {
    const at = `${path}.${i}`;
    if (!isObject(block)) throw invalid(at, 'must be an object');
    if (block.type === 'text') texts.push(text(block.text, `${at}.text`));
    else if (block.type === 'tool_use') {
      const args = JSON.stringify(block.input ?? {});
      calls.push({ id: text(block.id, `${at}.id`), type: 'function', function: { name: text(block.name, `${at}.name`), arguments: args } });
    } else if (!DROPPED_BLOCKS.has(block.type as string)) throw invalid(`${at}.type`, `unsupported block type ${JSON.stringify(block.type)} in an assistant turn`);
  });
  if (texts.length === 0 && calls.length === 0) return;
  const message: ChatMessage = { role: 'assistant', content: texts.length > 0 ? texts.join('') : null };
  if (calls.length > 0) message.tool_calls = calls;
  out.push(message);
}

function appendMessage(out: ChatMessage[], m: unknown, path: string): void {
  if (!isObject(m)) throw invalid(path, 'must be an object');
  const role = m.role;
  if (role !== 'user' && role !== 'assistant') throw invalid(`${path}.role`, 'must be "user" or "assistant"');
  if (typeof m.content === 'string') {
    out.push(role === 'user' ? { role, content: m.content } : { role, content: m.content });
    return;
  }
  if (!Array.isArray(m.content)) throw invalid(`${path}.content`, 'must be a string or an array of blocks');
  if (role === 'user') appendUser(out, m.content, `${path}.content`);
  else appendAssistant(out, m.content, `${path}.content`);
}

function tools(list: unknown): ChatTool[] {
  if (!Array.isArray(list)) throw invalid('tools', 'must be an array');
  return list.map((tool, i) => {
    const at = `tools.${i}`;
    if (!isObject(tool)) throw invalid(at, 'must be an object');
    const name = text(tool.name, `${at}.name`);
    // Anthropic server tools (web_search_…, bash_…) run at Anthropic; an OpenAI upstream has none.
    if (tool.type !== undefined && tool.type !== 'custom' && tool.input_schema === undefined) {
      throw invalid(`${at}.type`, `server tool ${JSON.stringify(tool.type)} is not available through an OpenAI-compatible upstream`);
    }
    const fn: ChatTool['function'] = { name, parameters: tool.input_schema ?? { type: 'object', properties: {} } };
    if (typeof tool.description === 'string') fn.description = tool.description;
    return { type: 'function', function: fn };
  });
}

function toolChoice(choice: unknown): ChatToolChoice {
  if (!isObject(choice)) throw invalid('tool_choice', 'must be an object');
  switch (choice.type) {
    case 'auto':
      return 'auto';
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      return { type: 'function', function: { name: text(choice.name, 'tool_choice.name') } };
    default:
      throw invalid('tool_choice.type', 'must be "auto", "any", "tool" or "none"');
  }
}

/**
 * Anthropic's thinking budget as OpenAI's `reasoning_effort`. Claude Code asks 4,000 tokens for
 * "think", 10,000 for "think hard", 31,999 for "ultrathink": low, medium, high.
 */
export function reasoningEffort(budget: number): 'low' | 'medium' | 'high' {
  return budget < 8192 ? 'low' : budget < 24576 ? 'medium' : 'high';
}

/** `thinking: {type: "enabled", budget_tokens}`; adaptive thinking leaves the upstream's default. */
function thinkingEffort(thinking: unknown): ChatRequest['reasoning_effort'] {
  if (isObject(thinking) && thinking.type === 'enabled' && typeof thinking.budget_tokens === 'number') return reasoningEffort(thinking.budget_tokens);
  return undefined;
}

/** `output_config.effort` (Anthropic's newer knob): xhigh and max are OpenAI's high. */
function outputEffort(config: unknown): ChatRequest['reasoning_effort'] {
  const effort = isObject(config) ? config.effort : undefined;
  if (effort === 'low' || effort === 'medium' || effort === 'high') return effort;
  if (effort === 'xhigh' || effort === 'max') return 'high';
  return undefined;
}

/**
 * An Anthropic Messages request as an OpenAI chat completion request for `model`. Fields without
 * an OpenAI equivalent (`top_k`, `service_tier`, `container`, `cache_control` marks, ...) are
 * dropped rather than forwarded: OpenAI rejects parameters it does not know.
 */
export function toUpstream(req: Json, model: string): ChatRequest {
  if (!Array.isArray(req.messages)) throw invalid('messages', 'must be an array');
  const out: ChatRequest = { model, messages: [] };
  const system = systemText(req.system);
  if (system !== '') out.messages.push({ role: 'system', content: system });
  req.messages.forEach((m, i) => appendMessage(out.messages, m, `messages.${i}`));
  if (req.max_tokens !== undefined) out.max_tokens = number(req.max_tokens, 'max_tokens');
  if (req.temperature !== undefined) out.temperature = number(req.temperature, 'temperature');
  if (req.top_p !== undefined) out.top_p = number(req.top_p, 'top_p');
  if (req.stop_sequences !== undefined) {
    if (!Array.isArray(req.stop_sequences)) throw invalid('stop_sequences', 'must be an array of strings');
    const stop = req.stop_sequences.map((s, i) => text(s, `stop_sequences.${i}`));
    if (stop.length > 0) out.stop = stop;
  }
  if (req.stream === true) {
    out.stream = true;
    // Without it OpenAI-style servers send no usage in streams, and message_delta would have none.
    out.stream_options = { include_usage: true };
  }
  if (req.tools !== undefined && req.tools !== null) {
    const list = tools(req.tools);
    if (list.length > 0) out.tools = list;
  }
  // OpenAI rejects tool_choice without tools.
  if (out.tools && req.tool_choice !== undefined && req.tool_choice !== null) {
    out.tool_choice = toolChoice(req.tool_choice);
    if ((req.tool_choice as Json).disable_parallel_tool_use === true) out.parallel_tool_calls = false;
  }
  const effort = outputEffort(req.output_config) ?? thinkingEffort(req.thinking);
  if (effort) out.reasoning_effort = effort;
  const format = isObject(req.output_config) ? req.output_config.format : undefined;
  if (isObject(format) && format.type === 'json_schema') {
    out.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema } };
  }
  const user = isObject(req.metadata) ? req.metadata.user_id : undefined;
  if (typeof user === 'string' && user !== '') out.user = user;
  return out;
}
