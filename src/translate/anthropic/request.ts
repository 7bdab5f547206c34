/**
 * Anthropic Messages request → OpenAI chat completion request, as a pure function.
 *
 * THE TOLERANCE PRINCIPLE (see README, "Claude Code"): cliproxy is strict only about what breaks
 * routing or what it must read to translate — no `model`, `messages` not an array, a field it
 * reads of the wrong type — and answers those with a 400 naming the path (`messages.2.content`),
 * as Anthropic's API does. Everything else a real client sends is mapped when the chat format has
 * a meaning for it and dropped when it has none: unknown top-level fields and betas,
 * `context_management`, `cache_control`, server tools, `top_k`, thinking signatures, block types
 * added after this was written. Claude Code changes what it sends from release to release; a
 * gateway that 400s on the unknown breaks on every release.
 */
import type { ChatContentPart, ChatMessage, ChatRequest, ChatToolCall } from '../openai-chat.js';
import { joinParts, toolResultText, userPart } from './request-blocks.js';
import { effortOf, endUser, referencedTools, toolChoice, tools } from './request-options.js';
import { invalid, isObject, number, text, type Json } from './request-validate.js';
import { repairToolTurns } from '../chat/tool-turns.js';

export { reasoningEffort } from './request-options.js';

/**
 * Claude Code's attribution block (`x-anthropic-billing-header: cc_version=…`) opens its system
 * prompt. It is billing data for Anthropic, changes with every release and would defeat upstream
 * prompt caching: dropped, as CLI Proxy API does.
 */
const isAttribution = (s: string) => s.trimStart().startsWith('x-anthropic-billing-header:');

/** Texts of a `system` value (string or text blocks; other blocks are dropped). */
function systemTexts(system: unknown, path: string): string[] {
  if (system === undefined || system === null) return [];
  if (typeof system === 'string') return system === '' || isAttribution(system) ? [] : [system];
  if (!Array.isArray(system)) throw invalid(path, 'must be a string or an array of text blocks');
  const out: string[] = [];
  system.forEach((block, i) => {
    if (!isObject(block) || block.type !== 'text') return;
    const t = text(block.text, `${path}.${i}.text`);
    if (t !== '' && !isAttribution(t)) out.push(t);
  });
  return out;
}

/** Chat messages being built, plus the system prompt (it goes first whatever order it came in). */
interface Build {
  readonly system: string[];
  readonly messages: ChatMessage[];
}

/** A user turn: tool results become `tool` messages, placed first as OpenAI requires. */
function appendUser(out: ChatMessage[], content: unknown[], path: string): void {
  const parts: ChatContentPart[] = [];
  const media: ChatContentPart[] = [];
  content.forEach((block, i) => {
    const at = `${path}.${i}`;
    if (typeof block === 'string') return void parts.push({ type: 'text', text: block });
    if (!isObject(block)) throw invalid(at, 'must be an object');
    if (block.type === 'tool_result') {
      const result = toolResultText(block.content, `${at}.content`, media);
      out.push({ role: 'tool', tool_call_id: text(block.tool_use_id, `${at}.tool_use_id`), content: result });
      return;
    }
    const part = userPart(block, at);
    if (part) parts.push(part);
  });
  // A tool message holds text only: images a tool returned follow as user content.
  parts.push(...media);
  if (parts.length > 0) out.push({ role: 'user', content: joinParts(parts) });
}

/** An assistant turn: text and tool_use; thinking (signed by Anthropic) and server-tool blocks are dropped. */
function appendAssistant(out: ChatMessage[], content: unknown[], path: string): void {
  const texts: string[] = [];
  const calls: ChatToolCall[] = [];
  content.forEach((block, i) => {
    const at = `${path}.${i}`;
    if (typeof block === 'string') return void texts.push(block);
    if (!isObject(block)) throw invalid(at, 'must be an object');
    if (block.type === 'text') texts.push(text(block.text, `${at}.text`));
    else if (block.type === 'tool_use') {
      const args = JSON.stringify(block.input ?? {});
      calls.push({ id: text(block.id, `${at}.id`), type: 'function', function: { name: text(block.name, `${at}.name`), arguments: args } });
    }
  });
  if (texts.length === 0 && calls.length === 0) return;
  const message: ChatMessage = { role: 'assistant', content: texts.length > 0 ? texts.join('') : null };
  if (calls.length > 0) message.tool_calls = calls;
  out.push(message);
}

/**
 * A `system` (or `developer`) entry inside `messages`: Claude Code adds them mid-conversation.
 * Before the first turn it joins the system prompt; later it becomes user text wrapped in
 * <system-reminder> (Claude Code's own convention), in place: strict upstreams reject a system
 * message after the first one, and CLI Proxy API maps them the same way.
 */
function appendSystem(build: Build, content: unknown, path: string): void {
  const texts = systemTexts(content, `${path}.content`);
  if (texts.length === 0) return;
  if (build.messages.length === 0) return void build.system.push(...texts);
  build.messages.push({ role: 'user', content: `<system-reminder>\n${texts.join('\n')}\n</system-reminder>` });
}

function appendMessage(build: Build, m: unknown, path: string): void {
  if (!isObject(m)) throw invalid(path, 'must be an object');
  const { role, content } = m;
  if (role === 'system' || role === 'developer') return appendSystem(build, content, path);
  if (role !== 'user' && role !== 'assistant') throw invalid(`${path}.role`, 'must be "user", "assistant" or "system"');
  if (content === undefined || content === null || content === '') return;
  if (typeof content === 'string') return void build.messages.push({ role, content });
  if (!Array.isArray(content)) throw invalid(`${path}.content`, 'must be a string or an array of blocks');
  if (role === 'user') appendUser(build.messages, content, `${path}.content`);
  else appendAssistant(build.messages, content, `${path}.content`);
}

/** Top-level fields of the Messages API this translation knows (mapped, or dropped on purpose). */
const KNOWN_FIELDS = new Set([
  'model', 'messages', 'system', 'max_tokens', 'temperature', 'top_p', 'top_k', 'stop_sequences', 'stream', 'tools', 'tool_choice',
  'thinking', 'output_config', 'metadata', 'context_management', 'container', 'mcp_servers', 'service_tier', 'betas',
]);

/** Top-level fields nobody taught the translation yet: dropped, and worth a debug line to the operator. */
export function unknownFields(req: Json): string[] {
  return Object.keys(req).filter((k) => !KNOWN_FIELDS.has(k));
}

/** An Anthropic Messages request as an OpenAI chat completion request for `model`. */
export function toUpstream(req: Json, model: string): ChatRequest {
  if (!Array.isArray(req.messages)) throw invalid('messages', 'must be an array');
  const build: Build = { system: systemTexts(req.system, 'system'), messages: [] };
  req.messages.forEach((m, i) => appendMessage(build, m, `messages.${i}`));
  const out: ChatRequest = { model, messages: repairToolTurns(build.messages) };
  if (build.system.length > 0) out.messages.unshift({ role: 'system', content: build.system.join('\n\n') });
  if (req.max_tokens !== undefined) out.max_tokens = number(req.max_tokens, 'max_tokens');
  if (req.temperature !== undefined) out.temperature = number(req.temperature, 'temperature');
  if (req.top_p !== undefined) out.top_p = number(req.top_p, 'top_p');
  if (req.stop_sequences !== undefined && req.stop_sequences !== null) {
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
    const deferred = Array.isArray(req.tools) && req.tools.some((tool) => isObject(tool) && tool.defer_loading === true);
    const list = tools(req.tools, deferred ? referencedTools(req.messages) : undefined);
    if (list.length > 0) out.tools = list;
  }
  // OpenAI rejects tool_choice without tools.
  if (out.tools) {
    const { choice, parallel } = toolChoice(req.tool_choice, out.tools);
    if (choice) out.tool_choice = choice;
    if (parallel === false) out.parallel_tool_calls = false;
  }
  const effort = effortOf(req);
  if (effort) out.reasoning_effort = effort;
  const format = isObject(req.output_config) ? req.output_config.format : undefined;
  if (isObject(format) && format.type === 'json_schema') {
    out.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema } };
  }
  const user = endUser(req.metadata);
  if (user) out.user = user;
  return out;
}
