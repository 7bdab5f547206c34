/**
 * The request-level options of an Anthropic Messages request in chat terms: tools, tool_choice,
 * reasoning effort and the end-user id. Anthropic-only knobs (server tools, context_management,
 * cache_control, betas) have no chat meaning and are dropped here, never answered with a 400.
 */
import { createHash } from 'node:crypto';
import type { ChatRequest, ChatTool, ChatToolChoice } from '../openai-chat.js';
import { invalid, isObject, text, type Json } from './request-validate.js';

/**
 * Client tools (no `type`, or `custom`) become functions. Server tools (`web_search_20250305`,
 * `web_fetch_…`, `bash_…`, `text_editor_…`, `computer_…`, `code_execution_…`, `memory_…`, MCP
 * toolsets) run inside Anthropic's API: a chat upstream has nothing to run them, so they are dropped.
 * A tool with `defer_loading: true` is hidden from the model until a `tool_reference` in the
 * conversation names it (Anthropic's tool search, used by Claude Code): offered only once `loaded`
 * holds its name, as Anthropic's API would.
 */
export function tools(list: unknown, loaded: ReadonlySet<string> = new Set()): ChatTool[] {
  if (!Array.isArray(list)) throw invalid('tools', 'must be an array');
  const out: ChatTool[] = [];
  list.forEach((tool, i) => {
    const at = `tools.${i}`;
    if (!isObject(tool)) throw invalid(at, 'must be an object');
    if (tool.type !== undefined && tool.type !== null && tool.type !== 'custom') return;
    if (tool.defer_loading === true && !(typeof tool.name === 'string' && loaded.has(tool.name))) return;
    const fn: ChatTool['function'] = { name: text(tool.name, `${at}.name`), parameters: objectSchema(tool.input_schema) };
    if (typeof tool.description === 'string') fn.description = tool.description;
    out.push({ type: 'function', function: fn });
  });
  return out;
}

/** OpenAI wants an object schema with `properties`; Anthropic allows it bare. */
function objectSchema(schema: unknown): unknown {
  if (!isObject(schema)) return { type: 'object', properties: {} };
  if (schema.type === 'object' && schema.properties === undefined) return { ...schema, properties: {} };
  return schema;
}

/**
 * tool_choice in chat terms; undefined (upstream default) for a shape we cannot map, or for a
 * tool that is not offered (a dropped server tool, say): OpenAI rejects a choice naming no tool.
 */
export function toolChoice(choice: unknown, offered: readonly ChatTool[]): { choice?: ChatToolChoice; parallel?: false } {
  if (!isObject(choice)) return {};
  const parallel = choice.disable_parallel_tool_use === true ? false : undefined;
  switch (choice.type) {
    case 'auto':
      return { choice: 'auto', parallel };
    case 'any':
      return { choice: 'required', parallel };
    case 'none':
      return { choice: 'none' };
    case 'tool': {
      const name = text(choice.name, 'tool_choice.name');
      if (!offered.some((t) => t.function.name === name)) return { parallel };
      return { choice: { type: 'function', function: { name } }, parallel };
    }
    default:
      return {};
  }
}

type Effort = NonNullable<ChatRequest['reasoning_effort']>;

/**
 * Anthropic's thinking budget as OpenAI's `reasoning_effort`. Claude Code asks 4,000 tokens for
 * "think", 10,000 for "think hard", 31,999 for "ultrathink": low, medium, high.
 */
export function reasoningEffort(budget: number): Effort {
  return budget < 8192 ? 'low' : budget < 24576 ? 'medium' : 'high';
}

/** `output_config.effort` (Anthropic's effort knob): xhigh and max are OpenAI's high. */
function outputEffort(config: unknown): Effort | undefined {
  const effort = isObject(config) && typeof config.effort === 'string' ? config.effort.toLowerCase() : undefined;
  if (effort === 'low' || effort === 'medium' || effort === 'high') return effort;
  if (effort === 'xhigh' || effort === 'max') return 'high';
  return undefined;
}

/**
 * The request's reasoning effort: `output_config.effort` first (Claude Code sends it with
 * `thinking: {type: "adaptive"}`), else the `enabled` budget; bare adaptive or enabled thinking
 * asks for medium; `disabled` (or no thinking and no effort) leaves the upstream's default.
 * hub.ts asks again without it when a model rejects the parameter.
 */
export function effortOf(req: Json): Effort | undefined {
  const thinking = isObject(req.thinking) ? req.thinking : undefined;
  if (thinking?.type === 'disabled') return undefined;
  const configured = outputEffort(req.output_config);
  if (configured) return configured;
  if (thinking?.type === 'enabled') return typeof thinking.budget_tokens === 'number' ? reasoningEffort(thinking.budget_tokens) : 'medium';
  if (thinking?.type === 'adaptive' || thinking?.type === 'auto') return 'medium';
  return undefined;
}

/**
 * `metadata.user_id` as chat's `user`. Claude Code sends a JSON string with a device id and a
 * session id; a long or structured id is hashed (stable per session, keeps session affinity working,
 * and does not hand the device id to a third-party upstream).
 */
export function endUser(metadata: unknown): string | undefined {
  const id = isObject(metadata) ? metadata.user_id : undefined;
  if (typeof id !== 'string' || id === '') return undefined;
  if (id.length <= 64 && !id.startsWith('{')) return id;
  return `u-${createHash('sha256').update(id).digest('hex').slice(0, 40)}`;
}

/** The tool names that `tool_reference` blocks inside the conversation's tool results load. */
export function referencedTools(messages: readonly unknown[]): Set<string> {
  const names = new Set<string>();
  for (const message of messages) {
    if (!isObject(message) || message.role !== 'user' || !Array.isArray(message.content)) continue;
    for (const block of message.content) {
      if (!isObject(block) || block.type !== 'tool_result' || !Array.isArray(block.content)) continue;
      for (const inner of block.content) {
        if (isObject(inner) && inner.type === 'tool_reference' && typeof inner.tool_name === 'string') names.add(inner.tool_name);
      }
    }
  }
  return names;
}
