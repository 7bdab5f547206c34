/**
 * The hub's runner: every client API that is not OpenAI chat (Anthropic Messages, Responses, Gemini)
 * translates its request to a chat completion request, runs it here through the one attempt loop,
 * and translates the chat answer (a body, or a chat SSE stream) back to its own format.
 */
import { ClientGone, ProxyError, UpstreamReply } from '../errors.js';
import { execute, type Committed, type CommittedBody } from '../execute.js';
import { sessionKeyOf } from '../routing/affinity.js';
import type { Pool, Target } from '../routing/registry.js';
import type { ChatCompletion, ChatRequest, ChatUsage } from '../translate/openai-chat.js';
import { renameModel } from '../upstream/rewrite.js';
import type { NativePlan } from '../upstream/route.js';
import type { ClientProtocol } from '../routing/shape.js';
import type { ClientSignal, RequestContext } from './context.js';
import { sseDataReader } from './sse.js';

/** The client API a hub request came in through (payload rules' `from-protocol`). */
export function clientProtocolOf(path: string): ClientProtocol {
  if (path.startsWith('/v1/messages')) return 'claude';
  if (path.startsWith('/v1/responses')) return 'responses';
  if (path.startsWith('/v1beta/') || path.includes(':generateContent') || path.includes(':streamGenerateContent')) return 'gemini';
  return 'openai';
}

/** The upstream's non-stream answer as a chat completion, or the error it carries. */
export function parseCompletion(committed: CommittedBody): ChatCompletion {
  let parsed: unknown;
  try {
    parsed = JSON.parse(committed.body.toString('utf8'));
  } catch {
    throw new ProxyError(502, 'upstream_invalid_response', `upstream ${committed.target.provider.name} did not answer with JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null) {
    throw new ProxyError(502, 'upstream_invalid_response', `upstream ${committed.target.provider.name} did not answer with a chat completion`);
  }
  const completion = parsed as ChatCompletion;
  // Some providers answer 200 with an error object.
  if (completion.error) {
    const code = completion.error.code;
    const status = typeof code === 'number' && code >= 400 && code <= 599 ? code : 502;
    throw new UpstreamReply(status, committed.body, 'application/json');
  }
  return completion;
}

/**
 * Adjusts a chat request the upstream refused (400/422) for a parameter it names; false when none
 * applies. A model without a reasoning setting is asked again without `reasoning_effort`; OpenAI's
 * reasoning models take `max_completion_tokens` instead of `max_tokens`.
 */
function relax(chat: ChatRequest, err: unknown): boolean {
  if (!(err instanceof UpstreamReply) || (err.status !== 400 && err.status !== 422)) return false;
  if (chat.reasoning_effort !== undefined && err.body.includes('reasoning_effort')) {
    delete chat.reasoning_effort;
    return true;
  }
  if (chat.max_tokens !== undefined && err.body.includes('max_completion_tokens')) {
    chat.max_completion_tokens = chat.max_tokens;
    delete chat.max_tokens;
    return true;
  }
  return false;
}

/** Runs the attempt loop for a chat request (serialised once; attempts only rename the model). */
function runOnce(ctx: RequestContext, pool: Pool, chat: ChatRequest, signal: ClientSignal, native?: NativePlan): Promise<Committed> {
  const text = JSON.stringify(chat);
  const body = (target: Target) => (target.upstreamModel === chat.model ? text : renameModel(text, target.upstreamModel));
  const sessionKey = ctx.snap.config.routing['session-affinity'] ? sessionKeyOf(chat as unknown as Record<string, unknown>, ctx.req.headers) : undefined;
  const request = { model: chat.model, from: clientProtocolOf(ctx.path), headers: ctx.req.headers };
  const plan = { pool, path: '/chat/completions', stream: chat.stream === true, body, signal, sessionKey, timing: ctx.timing, native, chat: chat as unknown as Record<string, unknown>, request };
  return execute(ctx.rt, ctx.snap, plan);
}

/**
 * Runs a translated chat request. Coding clients often ask for reasoning or an output limit in a
 * form some models refuse: such a request is asked again in a form they take (see `relax`) rather
 * than failing. With `native` (server/native-relay.ts nativePlan), upstreams that speak the
 * client's own API get the client's request instead, and `committed.native` tells the handler
 * that the answer is in its own format, to be relayed as is (relayNative).
 */
export async function runChat(ctx: RequestContext, pool: Pool, chat: ChatRequest, signal: ClientSignal, native?: NativePlan): Promise<Committed> {
  for (let retries = 0; ; retries++) {
    try {
      return await runOnce(ctx, pool, chat, signal, native);
    } catch (err) {
      if (retries >= 2 || !relax(chat, err)) throw err;
    }
  }
}

/**
 * The whole text of a chat answer and its usage, from a body or by reading a stream to its end:
 * for answers a client gets only once complete (a compaction summary). An error object in the
 * stream fails like an upstream error; a client that leaves stops the read and the upstream.
 */
export async function completionText(committed: Committed, signal: ClientSignal): Promise<{ text: string; usage?: ChatUsage | null }> {
  if (committed.kind === 'body') {
    const completion = parseCompletion(committed);
    const content = completion.choices?.[0]?.message?.content;
    return { text: typeof content === 'string' ? content : '', usage: completion.usage };
  }
  let text = '';
  let usage: ChatUsage | null | undefined;
  let failure: ProxyError | undefined;
  const read = sseDataReader((data) => {
    if (data === '[DONE]' || failure) return;
    let chunk: { choices?: Array<{ delta?: { content?: unknown } }>; usage?: ChatUsage | null; error?: { message?: unknown } };
    try {
      chunk = JSON.parse(data);
    } catch {
      return;
    }
    if (chunk.error) {
      failure = new ProxyError(502, 'upstream_error', `upstream ${committed.target.provider.name}: ${String(chunk.error.message ?? 'error in the stream')}`);
      return;
    }
    const content = chunk.choices?.[0]?.delta?.content;
    if (typeof content === 'string') text += content;
    if (chunk.usage) usage = chunk.usage;
  });
  const onAbort = () => committed.abort();
  signal.once('abort', onAbort);
  try {
    for (const piece of committed.prelude) read(piece);
    for (;;) {
      const next = await committed.rest.next();
      if (signal.aborted) throw new ClientGone();
      if (next.done) break;
      read(next.value);
    }
  } catch (err) {
    if (signal.aborted) throw new ClientGone();
    throw err instanceof ProxyError ? err : new ProxyError(502, 'upstream_error', `upstream ${committed.target.provider.name}: the stream broke off`);
  } finally {
    signal.off('abort', onAbort);
  }
  if (failure) throw failure;
  return { text, usage };
}
