/**
 * Relays an upstream's own answer to a client that speaks the same API (Claude Code → a
 * claude-api-key upstream, Codex → a codex-api-key upstream): status, body and events as the
 * upstream sent them, nothing re-serialised, so that thinking signatures, cache usage and
 * encrypted reasoning reach the client intact.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { ProxyError } from '../errors.js';
import type { Committed } from '../execute.js';
import type { Pool, Target } from '../routing/registry.js';
import type { ChatRequest } from '../translate/openai-chat.js';
import type { NativePlan } from '../upstream/route.js';
import type { NativeFormat } from '../upstream/conversion.js';
import { renameModel } from '../upstream/rewrite.js';
import { GEMINI_USAGE_KEY, usageFromBody } from '../observe/usage.js';
import type { RequestContext } from './context.js';
import { passthroughHeaders, routingHeaders } from './openai.js';
import { relayStream } from './sse.js';

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

/** Client headers a native upstream of each format must see (betas change the API's behaviour). */
const FORWARDED: Record<NativeFormat, readonly string[]> = {
  anthropic: ['anthropic-beta', 'anthropic-version'],
  responses: ['openai-beta'],
  gemini: [],
};

/** The plan for sending the client's own request body to upstreams of its format. */
export function nativePlan(format: NativeFormat, raw: string, requested: string, headers: IncomingHttpHeaders): NativePlan {
  let forwarded: Record<string, string> | undefined;
  for (const name of FORWARDED[format]) {
    const value = headers[name];
    if (typeof value === 'string' && value !== '') (forwarded ??= {})[name] = value;
  }
  return {
    format,
    body: (target: Target) => (target.upstreamModel === requested ? raw : renameModel(raw, target.upstreamModel)),
    headers: forwarded,
  };
}

/**
 * The chat form of a client request, for upstreams of other formats. A request the translator
 * refuses (a block type the hub cannot express) can still go to upstreams of the client's own
 * format: it is then sent only there (`only`), and refused only when the pool has none.
 */
export function chatOrNativeOnly(pool: Pool, plan: NativePlan, stream: boolean, translate: () => ChatRequest): { chat: ChatRequest; plan: NativePlan } {
  try {
    return { chat: translate(), plan };
  } catch (err) {
    if (!(err instanceof ProxyError) || !pool.members.some((t) => t.provider.format === plan.format)) throw err;
    return { chat: { model: pool.id, messages: [], stream }, plan: { ...plan, only: true } };
  }
}

/** Sends a committed native answer to the client as it came. */
export async function relayNative(ctx: RequestContext, committed: Committed, visibleModel: string, errorEvent: (e: ProxyError) => string): Promise<void> {
  const headers = passthroughHeaders(committed.headers, { ...ctx.headers, ...routingHeaders(ctx, committed) });
  // Anthropic's own request-id is kept as x-upstream-request-id; request-id stays ours (our logs).
  const upstreamId = committed.headers['request-id'];
  if (upstreamId !== undefined && ctx.headers['request-id'] !== undefined) {
    headers['x-upstream-request-id'] = upstreamId;
    headers['request-id'] = ctx.headers['request-id'];
  }
  // Gemini answers say usageMetadata; Anthropic and Responses answers say usage.
  const usageKey = committed.target.provider.format === 'gemini' ? GEMINI_USAGE_KEY : undefined;
  if (committed.kind === 'body') {
    ctx.info.usage = usageFromBody(committed.body, usageKey);
    const body = committed.target.forceMapping ? Buffer.from(renameModel(committed.body.toString('utf8'), visibleModel)) : committed.body;
    headers['content-length'] = body.length;
    ctx.res.writeHead(committed.status, headers);
    ctx.res.end(body);
    return;
  }
  ctx.res.writeHead(committed.status, Object.assign(headers, SSE_HEADERS));
  ctx.res.flushHeaders();
  await relayStream(ctx.res, committed, { errorEvent, tap: ctx.rt.observe.streamTap(ctx, false, usageKey) });
}
