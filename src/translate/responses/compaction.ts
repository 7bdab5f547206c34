/**
 * Codex's remote compaction for chat upstreams. Codex CLI with the built-in OpenAI provider
 * compacts a long conversation by sending it with a last input item `{"type":"compaction_trigger"}`
 * and expects exactly one `{"type":"compaction","encrypted_content":…}` output item back, which it
 * sends in place of the history from then on; it does not fall back to compacting itself. OpenAI's
 * content is encrypted server state; a chat upstream has none, so cliproxy asks the model for a
 * handoff summary and carries that text in the item (marked as ours, base64url; it is the client's
 * own conversation, so nothing is hidden from it). A later request turns our item back into the
 * summary as user text; an item another server made cannot be read and is dropped.
 */
import type { ChatMessage, ChatRequest } from '../openai-chat.js';
import type { CompactionItem, Json } from './types.js';

const MARK = 'cliproxy-compaction-v1:';

/** What the model is asked for when Codex compacts (our wording). */
export const COMPACTION_PROMPT = [
  'The conversation above is about to be replaced by a summary, so that the work can continue in a fresh context window.',
  'Write that summary as a handoff note to yourself. Keep: the user\'s goals, requests and constraints in their own words where they matter;',
  'what has been done (files created or changed, commands run and what they showed); decisions taken and why; errors met and how they were handled;',
  'what is still open, and the exact next steps. Be concise, but leave out nothing needed to continue without the earlier messages.',
  'Answer with the summary only: no tool calls, no preamble.',
].join(' ');

/** How a summary is shown to the model on later turns. */
const SUMMARY_HEADER = 'Summary of the conversation so far (the earlier messages were compacted into it):';

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** True when the request asks for a compaction (its input holds a compaction_trigger item). */
export function isCompactionRequest(req: Json): boolean {
  return Array.isArray(req.input) && req.input.some((item) => isObject(item) && item.type === 'compaction_trigger');
}

/** The chat request that asks for the summary: the same conversation, the prompt last, no tool calls. */
export function compactionChat(chat: ChatRequest): ChatRequest {
  const out: ChatRequest = { ...chat, messages: [...chat.messages, { role: 'user', content: COMPACTION_PROMPT }] };
  if (out.tools) out.tool_choice = 'none';
  delete out.parallel_tool_calls;
  delete out.response_format;
  return out;
}

/** The compaction item carrying `summary`. */
export function compactionItem(id: string, summary: string): CompactionItem {
  return { id, type: 'compaction', encrypted_content: MARK + Buffer.from(summary, 'utf8').toString('base64url') };
}

/** The user message a compaction item stands for, or undefined for one cliproxy did not make. */
export function summaryMessage(item: Json): ChatMessage | undefined {
  const content = item.encrypted_content;
  if (typeof content !== 'string' || !content.startsWith(MARK)) return undefined;
  const summary = Buffer.from(content.slice(MARK.length), 'base64url').toString('utf8');
  return { role: 'user', content: `${SUMMARY_HEADER}\n\n${summary}` };
}
