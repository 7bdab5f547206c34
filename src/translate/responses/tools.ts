/**
 * Responses tools → chat function tools, and the map that names calls back. Function tools pass as
 * they are; tools inside a `namespace` tool (Codex groups sub-agent and MCP tools that way) become
 * functions with qualified names (`multi_agent_v1__spawn_agent`); freeform `custom` tools (Codex's
 * `apply_patch`) become a function taking one string, `input`. Hosted tools that run at OpenAI
 * (web_search, file_search, code_interpreter, tool_search, ...) have no chat equivalent: dropped.
 */
import { createHash } from 'node:crypto';
import { badRequest } from '../../errors.js';
import type { ChatTool } from '../openai-chat.js';
import type { Json, ToolIdentity, ToolMap } from './types.js';

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** OpenAI's limit for function names (`^[a-zA-Z0-9_-]{1,64}$`). */
const MAX_NAME = 64;

/**
 * The chat name of a namespaced tool, as CLI Proxy API spells it (so that both gateways show models
 * the same names): `ns__name`, or `ns` + name when the namespace already ends in `__` (MCP servers:
 * `mcp__server__`). Names over 64 characters are shortened with a hash; the map names them back.
 */
export function qualifiedName(namespace: string | undefined, name: string): string {
  let full = name;
  if (namespace && !name.startsWith('mcp__') && !name.startsWith(`${namespace}__`) && name !== namespace) {
    full = namespace.endsWith('__') ? namespace + name : `${namespace}__${name}`;
  }
  full = full.replace(/[^a-zA-Z0-9_-]/g, '_');
  if (full.length <= MAX_NAME) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, MAX_NAME - 9)}_${hash}`;
}

function customTool(tool: Json, name: string): ChatTool {
  // The grammar goes into the argument's description: a chat model cannot be constrained by it,
  // but it can follow it (Codex's apply_patch grammar is what the patch must look like).
  const format = isObject(tool.format) ? tool.format : undefined;
  let how = 'The raw input for this tool, as plain text (not JSON).';
  if (format?.type === 'grammar' && typeof format.definition === 'string') {
    how += ` It must match this ${typeof format.syntax === 'string' ? format.syntax : ''} grammar:\n${format.definition}`;
  }
  const fn: ChatTool['function'] = {
    name,
    parameters: { type: 'object', properties: { input: { type: 'string', description: how } }, required: ['input'], additionalProperties: false },
  };
  if (typeof tool.description === 'string' && tool.description !== '') fn.description = tool.description;
  return { type: 'function', function: fn };
}

function functionTool(tool: Json, name: string): ChatTool {
  const fn: ChatTool['function'] = { name, parameters: tool.parameters ?? { type: 'object', properties: {} } };
  if (typeof tool.description === 'string' && tool.description !== '') fn.description = tool.description;
  if (typeof tool.strict === 'boolean') (fn as Json).strict = tool.strict;
  return { type: 'function', function: fn };
}

export interface ChatTools {
  readonly tools: ChatTool[];
  readonly map: ToolMap;
}

/** Translates `tools`; the first declaration of a chat name wins (chat requires unique names). */
export function chatTools(list: unknown): ChatTools {
  const tools: ChatTool[] = [];
  const map = new Map<string, ToolIdentity>();
  if (list === undefined || list === null) return { tools, map };
  if (!Array.isArray(list)) throw badRequest('tools: must be an array', 'invalid_request');
  const add = (tool: unknown, namespace: string | undefined, path: string) => {
    if (!isObject(tool)) throw badRequest(`${path}: must be an object`, 'invalid_request');
    const type = tool.type ?? 'function';
    if (type === 'namespace') {
      const ns = typeof tool.name === 'string' ? tool.name : undefined;
      if (Array.isArray(tool.tools)) tool.tools.forEach((child, i) => add(child, ns, `${path}.tools.${i}`));
      return;
    }
    if (type !== 'function' && type !== 'custom') return; // hosted tool: runs at OpenAI only
    // Chat-style declarations ({type:"function", function:{name,...}}) are accepted too.
    const decl = isObject(tool.function) ? { ...tool.function, type } : tool;
    if (typeof decl.name !== 'string' || decl.name === '') throw badRequest(`${path}.name: must be a non-empty string`, 'invalid_request');
    const name = qualifiedName(namespace, decl.name);
    if (map.has(name)) return;
    const custom = type === 'custom';
    map.set(name, namespace ? { name: decl.name, namespace, custom } : { name: decl.name, custom });
    tools.push(custom ? customTool(decl, name) : functionTool(decl, name));
  };
  list.forEach((tool, i) => add(tool, undefined, `tools.${i}`));
  return { tools, map };
}

/** The Responses identity of a chat tool call (a name the request did not declare stays as is). */
export function identityOf(map: ToolMap, chatName: string): ToolIdentity {
  return map.get(chatName) ?? { name: chatName, custom: false };
}

/** The string a freeform tool call carries: `input` of the `{"input": ...}` arguments. */
export function customInput(args: string): string {
  try {
    const parsed: unknown = JSON.parse(args);
    if (isObject(parsed)) {
      if (typeof parsed.input === 'string') return parsed.input;
      if (parsed.input !== undefined) return JSON.stringify(parsed.input);
    }
  } catch {
    // not JSON: the model wrote the input directly
  }
  return args;
}
