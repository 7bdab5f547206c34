/**
 * Puts translated chat messages in the order strict chat upstreams demand. Anthropic is lenient
 * where OpenAI is not: it combines consecutive user turns, and a tool_result may sit beside text or
 * after a mid-conversation system entry. OpenAI requires every assistant `tool_calls` message to be
 * followed at once by one `tool` message per call id, and no `tool` message anywhere else.
 */
import type { ChatContentPart, ChatMessage } from '../openai-chat.js';

type ToolMessage = Extract<ChatMessage, { role: 'tool' }>;

/** A call the client never answered (interrupted, or trimmed from the history). */
const NO_RESULT = '(no result: the tool call did not complete)';

/** A tool result whose call is not in the preceding assistant turn (the history was trimmed): kept as text. */
const orphan = (m: ToolMessage): ChatMessage => ({ role: 'user', content: `Result of tool call ${m.tool_call_id}:\n${m.content}` });

const asParts = (content: string | ChatContentPart[]): ChatContentPart[] => (typeof content === 'string' ? [{ type: 'text', text: content }] : content);

/** Appends `m`, combining it with a user message right before it, as Anthropic combines turns. */
function push(out: ChatMessage[], m: ChatMessage): void {
  const last = out.at(-1);
  if (m.role !== 'user' || last?.role !== 'user') return void out.push(m);
  out[out.length - 1] =
    typeof last.content === 'string' && typeof m.content === 'string'
      ? { role: 'user', content: `${last.content}\n\n${m.content}` }
      : { role: 'user', content: [...asParts(last.content), ...asParts(m.content)] };
}

/**
 * Each assistant tool_calls turn is followed by its tool messages (a missing one gets a short
 * "no result" message), then whatever user content came with them; orphan tool messages become
 * user text; consecutive user messages are combined.
 */
export function repairToolTurns(messages: readonly ChatMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  let i = 0;
  while (i < messages.length) {
    const m = messages[i++]!;
    if (m.role === 'tool') {
      push(out, orphan(m));
      continue;
    }
    if (m.role !== 'assistant' || !m.tool_calls?.length) {
      push(out, m);
      continue;
    }
    out.push(m);
    const open = new Set(m.tool_calls.map((c) => c.id));
    const results: ChatMessage[] = [];
    const rest: ChatMessage[] = [];
    for (; i < messages.length && messages[i]!.role !== 'assistant'; i++) {
      const n = messages[i]!;
      if (n.role === 'tool' && open.delete(n.tool_call_id)) results.push(n);
      else rest.push(n.role === 'tool' ? orphan(n) : n);
    }
    for (const call of m.tool_calls) if (open.has(call.id)) results.push({ role: 'tool', tool_call_id: call.id, content: NO_RESULT });
    out.push(...results);
    for (const n of rest) push(out, n);
  }
  return out;
}
