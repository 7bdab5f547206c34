/**
 * A scripted OpenAI-compatible upstream for the real-CLI tests: each chat request cliproxy sends is
 * answered as the test's script decides (text, reasoning, tool calls), streamed the way OpenAI
 * streams, and recorded so that tests can check what reached the model.
 */
import { mockUpstream, sleep, type MockUpstream, type Recorded } from '../helpers/upstream.js';

export const UPSTREAM_MODEL = 'scripted-upstream-model';

export interface ToolCallSpec {
  readonly name: string;
  readonly arguments: Record<string, unknown>;
  readonly id?: string;
}

/** What the upstream answers to one chat request: text, tool calls, or both (text first). */
export interface Reply {
  readonly text?: string;
  readonly reasoning?: string;
  readonly toolCalls?: readonly ToolCallSpec[];
  /** Characters per streamed content chunk (default 40). */
  readonly chunkChars?: number;
  /** Pause between streamed chunks (default 0). */
  readonly gapMs?: number;
}

/** Decides the reply from the chat request cliproxy sent (its body as JSON) and its index. */
export type Script = (request: any, index: number) => Reply;

export interface ScriptedUpstream extends MockUpstream {
  /** Chat requests only (POST .../chat/completions), in arrival order. */
  chats(): Recorded[];
}

/** The last `tool` message's text in a chat request, or undefined on a turn without tool results. */
export function lastToolResult(request: any): string | undefined {
  const messages: any[] = request?.messages ?? [];
  const results: string[] = [];
  // The tool messages after the last assistant turn (user text may follow them).
  for (let i = messages.length - 1; i >= 0 && messages[i].role !== 'assistant'; i--) {
    const m = messages[i];
    if (m.role === 'tool') results.unshift(typeof m.content === 'string' ? m.content : JSON.stringify(m.content));
  }
  return results.length > 0 ? results.join('\n') : undefined;
}

/** The names of the function tools a chat request offers. */
export const toolNames = (request: any): string[] => (request?.tools ?? []).map((t: any) => t?.function?.name);

function chunkOf(delta: Record<string, unknown>, finish: string | null = null) {
  return { id: 'chatcmpl-scripted', object: 'chat.completion.chunk', created: 1700000000, model: UPSTREAM_MODEL, choices: [{ index: 0, delta, finish_reason: finish }] };
}

function pieces(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** The reply as chat SSE chunks, the way OpenAI streams: role, content pieces, tool call deltas, usage. */
export function replyChunks(reply: Reply): unknown[] {
  const size = reply.chunkChars ?? 40;
  const out: unknown[] = [chunkOf({ role: 'assistant', content: '' })];
  if (reply.reasoning) out.push(chunkOf({ reasoning_content: reply.reasoning }));
  for (const piece of pieces(reply.text ?? '', size)) out.push(chunkOf({ content: piece }));
  (reply.toolCalls ?? []).forEach((call, index) => {
    const args = JSON.stringify(call.arguments);
    const id = call.id ?? `call_scripted_${index}`;
    out.push(chunkOf({ tool_calls: [{ index, id, type: 'function', function: { name: call.name, arguments: '' } }] }));
    for (const part of pieces(args, 16)) out.push(chunkOf({ tool_calls: [{ index, function: { arguments: part } }] }));
  });
  out.push(chunkOf({}, reply.toolCalls?.length ? 'tool_calls' : 'stop'));
  out.push({ ...chunkOf({}), choices: [], usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 } });
  return out;
}

/** The reply as one chat completion (for requests without `stream`). */
export function replyCompletion(reply: Reply): unknown {
  const message: Record<string, unknown> = { role: 'assistant', content: reply.text ?? null };
  if (reply.toolCalls?.length) {
    message.tool_calls = reply.toolCalls.map((c, i) => ({ id: c.id ?? `call_scripted_${i}`, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.arguments) } }));
  }
  return {
    id: 'chatcmpl-scripted',
    object: 'chat.completion',
    created: 1700000000,
    model: UPSTREAM_MODEL,
    choices: [{ index: 0, message, finish_reason: reply.toolCalls?.length ? 'tool_calls' : 'stop' }],
    usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
  };
}

/** A loopback OpenAI-compatible upstream whose answers `script` decides, request by request. */
export async function startScriptedUpstream(script: Script): Promise<ScriptedUpstream> {
  let chatIndex = 0;
  const upstream = await mockUpstream(async (req, res, recorded) => {
    if (!recorded.path.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not scripted', type: 'invalid_request_error' } }));
      return;
    }
    const reply = script(recorded.json, chatIndex++);
    if (recorded.json?.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(replyCompletion(reply)));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const c of replyChunks(reply)) {
      if (res.destroyed) return;
      res.write(`data: ${JSON.stringify(c)}\n\n`);
      if (reply.gapMs) await sleep(reply.gapMs);
    }
    res.end('data: [DONE]\n\n');
  });
  return Object.assign(upstream, { chats: () => upstream.requests.filter((r) => r.path.endsWith('/chat/completions')) });
}
