/**
 * Chat completion request → Anthropic Messages request (https://docs.anthropic.com/en/api/messages),
 * for a `claude-api-key` upstream behind a client that does not speak Messages. System messages
 * become `system`, tool calls `tool_use` blocks, tool messages `tool_result` blocks in a user turn;
 * turns of the same role are merged, as the API wants them alternating.
 */
import {
  asArray,
  contentParts,
  contentText,
  functionTools,
  isObject,
  maxTokensOf,
  num,
  stopList,
  str,
  thinkingBudget,
  toolCallsOf,
  type Json,
  type Part,
} from '../chat/upstream-common.js';

/** Messages requires max_tokens; this is what a chat client that sets none gets. */
export const DEFAULT_MAX_TOKENS = 8192;

function block(part: Part): Json | undefined {
  if (part.kind === 'text') return { type: 'text', text: part.text };
  if (part.kind === 'image') {
    return part.data
      ? { type: 'image', source: { type: 'base64', media_type: part.data.mediaType, data: part.data.base64 } }
      : { type: 'image', source: { type: 'url', url: part.url } };
  }
  if (part.data) {
    const doc: Json = { type: 'document', source: { type: 'base64', media_type: part.data.mediaType, data: part.data.base64 } };
    if (part.filename) doc.title = part.filename;
    return doc;
  }
  return undefined;
}

function blocks(content: unknown): Json[] {
  return contentParts(content).flatMap((p): Json[] => { const b = block(p); return b ? [b] : []; });
}

function push(messages: Json[], role: 'user' | 'assistant', content: Json[]): void {
  if (content.length === 0) return;
  const last = messages.at(-1);
  if (last?.role === role) (last.content as Json[]).push(...content);
  else messages.push({ role, content });
}

function toolChoice(choice: unknown, parallel: unknown): Json | undefined {
  let out: Json | undefined;
  if (choice === 'auto') out = { type: 'auto' };
  else if (choice === 'required') out = { type: 'any' };
  else if (choice === 'none') out = { type: 'none' };
  else if (isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string') out = { type: 'tool', name: choice.function.name };
  if (parallel === false) (out ??= { type: 'auto' }).disable_parallel_tool_use = true;
  return out;
}

/** The Messages request for a chat request, with `model` set to the upstream's model. */
export function chatToMessages(chat: Json, model: string): Json {
  const system: string[] = [];
  const messages: Json[] = [];
  for (const m of asArray(chat.messages)) {
    if (!isObject(m)) continue;
    switch (m.role) {
      case 'system':
      case 'developer':
        system.push(contentText(m.content));
        break;
      case 'user':
        push(messages, 'user', blocks(m.content));
        break;
      case 'assistant': {
        const content = blocks(m.content).filter((b) => b.type === 'text' && b.text !== '');
        for (const call of toolCallsOf(m)) content.push({ type: 'tool_use', id: call.id, name: call.name, input: call.args });
        push(messages, 'assistant', content);
        break;
      }
      case 'tool': {
        const result: Json = { type: 'tool_result', tool_use_id: str(m.tool_call_id) ?? '' };
        const parts = blocks(m.content);
        result.content = parts.length > 0 ? parts : '';
        push(messages, 'user', [result]);
        break;
      }
    }
  }
  const out: Json = { model, messages };
  const systemText = system.filter(Boolean).join('\n\n');
  if (systemText) out.system = systemText;
  let maxTokens = maxTokensOf(chat) ?? DEFAULT_MAX_TOKENS;
  const budget = thinkingBudget(chat.reasoning_effort);
  if (budget !== undefined) {
    // budget_tokens must be below max_tokens; thinking accepts no temperature/top_p changes.
    if (maxTokens <= budget) maxTokens = budget + DEFAULT_MAX_TOKENS;
    out.thinking = { type: 'enabled', budget_tokens: budget };
  } else {
    if (num(chat.temperature) !== undefined) out.temperature = Math.min(1, num(chat.temperature)!);
    if (num(chat.top_p) !== undefined) out.top_p = chat.top_p;
  }
  out.max_tokens = maxTokens;
  const stop = stopList(chat.stop);
  if (stop) out.stop_sequences = stop;
  const tools = functionTools(chat.tools);
  if (tools.length > 0 && chat.tool_choice !== 'none') {
    out.tools = tools.map((t) => ({ name: t.name, ...(t.description ? { description: t.description } : {}), input_schema: t.parameters }));
    const choice = toolChoice(chat.tool_choice, chat.parallel_tool_calls);
    if (choice) out.tool_choice = choice;
  }
  if (typeof chat.user === 'string') out.metadata = { user_id: chat.user };
  if (chat.stream === true) out.stream = true;
  return out;
}
