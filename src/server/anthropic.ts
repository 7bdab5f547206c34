/**
 * The Anthropic Messages API (what Claude Code and the Anthropic SDK speak) on top of the same
 * routing as /v1/chat/completions: POST /v1/messages is translated to an OpenAI chat completion
 * request, run through the attempt loop (pools, failover, retries), and the answer translated
 * back; POST /v1/messages/count_tokens estimates; GET /v1/models answers in Anthropic's list
 * format when the request carries `anthropic-version` (every Anthropic SDK sends it).
 */
import { resolvePool, type Pool } from '../routing/registry.js';
import type { ModelInfo } from '../translate/anthropic/messages.js';
import { messageToEvents, streamToClient, toClient, toUpstream, unknownFields } from '../translate/anthropic/index.js';
import { estimateInputTokens } from '../translate/anthropic/tokens.js';
import { normalizeUsage } from '../observe/usage.js';
import { readJsonBody } from './body.js';
import { clientSignal, sendJson, type RequestContext } from './context.js';
import { parseCompletion, runChat } from './hub.js';
import { anthropicErrorEvent } from './errors.js';
import { addRoutingHeaders, modelNotFound, passthroughHeaders, resolveRequestModel } from './openai.js';
import { relayStream } from './sse.js';
import { chatOrNativeOnly, nativePlan, relayNative } from './native-relay.js';
import { upstreamTokenCount } from './native-count-tokens.js';
import { startNonStreamKeepAlive } from './keepalive.js';

/** Ping period while the upstream is silent; Anthropic's own API pings about as often. */
export const PING_EVERY_MS = 10_000;

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/** Unknown top-level fields already reported: each is logged once per process, at debug level. */
const reportedFields = new Set<string>();

/** Tolerance with a trace: a field a new client release sends is dropped, and the operator can see it. */
function noteUnknownFields(ctx: RequestContext, json: Record<string, unknown>): void {
  if (!ctx.rt.log.isLevelEnabled('debug')) return;
  const fresh = unknownFields(json).slice(0, 20).map((f) => f.slice(0, 64)).filter((f) => !reportedFields.has(f));
  if (fresh.length === 0 || reportedFields.size > 1000) return;
  for (const f of fresh) reportedFields.add(f);
  ctx.rt.log.debug({ fields: fresh, userAgent: ctx.req.headers['user-agent'] }, 'anthropic: unknown request fields dropped');
}

/** Requests whose errors must be Anthropic-shaped: the Messages API, and any Anthropic SDK call. */
export function wantsAnthropicErrors(ctx: RequestContext): boolean {
  return ctx.path.startsWith('/v1/messages') || ctx.req.headers['anthropic-version'] !== undefined;
}

/** POST /v1/messages */
export async function handleMessages(ctx: RequestContext): Promise<void> {
  ctx.headers['request-id'] = ctx.requestId;
  const { raw, json } = await readJsonBody(ctx.req, ctx.snap.bodyLimitBytes);
  ctx.requestLog?.requestBody(raw);
  noteUnknownFields(ctx, json);
  const pool = resolveRequestModel(ctx, json);
  const model = json.model as string;
  const native = chatOrNativeOnly(pool, nativePlan('anthropic', raw, model, ctx.req.headers), json.stream === true, () => toUpstream(json, model));
  const chat = native.chat;
  const stream = chat.stream === true;
  const inputTokens = estimateInputTokens(json);
  const id = `msg_${ctx.requestId.replaceAll('-', '')}`;
  const signal = clientSignal(ctx.res);
  const stopKeepAlive = stream ? undefined : startNonStreamKeepAlive(ctx);
  let committed;
  try {
    // A claude-api-key upstream gets this very request (thinking signatures, cache_control, betas).
    committed = await runChat(ctx, pool, chat, signal, native.plan);
  } finally {
    stopKeepAlive?.();
  }
  if (committed.native) return relayNative(ctx, committed, pool.id, anthropicErrorEvent);
  const headers = addRoutingHeaders(ctx, committed, ctx.headers);
  // Translated answers carry the upstream's headers only when asked for explicitly.
  if (ctx.snap.config['passthrough-headers'] === true) passthroughHeaders(committed.headers, headers);
  if (committed.kind === 'stream') {
    ctx.res.writeHead(200, Object.assign(headers, SSE_HEADERS));
    ctx.res.flushHeaders();
    const mapper = streamToClient({ model, id, inputTokens, errorEvent: anthropicErrorEvent, pingEveryMs: PING_EVERY_MS, priorMessages: json.messages });
    // toUpstream asks for the usage chunk; the client always gets usage (in message_delta).
    await relayStream(ctx.res, committed, { mapper, errorEvent: anthropicErrorEvent, tap: ctx.rt.observe.streamTap(ctx, false) });
    return;
  }
  const completion = parseCompletion(committed);
  ctx.info.usage = normalizeUsage(completion.usage);
  const message = toClient(completion, { model, id, inputTokens, priorMessages: json.messages });
  // Newlines already went out (nonstream-keepalive-interval): the message is the rest of the body.
  if (!stream && ctx.res.headersSent) return void ctx.res.end(JSON.stringify(message));
  if (!stream) return sendJson(ctx, 200, message, headers);
  // Asked for a stream, got a plain answer (the upstream ignores `stream`): send it as events.
  ctx.res.writeHead(200, Object.assign(headers, SSE_HEADERS));
  ctx.res.end(messageToEvents(message));
}

/** POST /v1/messages/count_tokens: the estimate documented in translate/anthropic/tokens.ts. */
export async function handleCountTokens(ctx: RequestContext): Promise<void> {
  ctx.headers['request-id'] = ctx.requestId;
  const { raw, json } = await readJsonBody(ctx.req, ctx.snap.bodyLimitBytes);
  const pool = resolveRequestModel(ctx, json);
  // A claude-api-key upstream counts exactly; the estimate is for everything else.
  const counted = await upstreamTokenCount(ctx, pool, raw);
  if (counted) return sendJson(ctx, 200, JSON.parse(counted.toString('utf8')));
  toUpstream(json, ''); // the same validation as /v1/messages: a bad request is a 400 here too
  sendJson(ctx, 200, { input_tokens: estimateInputTokens(json) });
}

function modelInfo(pool: Pool, createdAt: string): ModelInfo {
  return { type: 'model', id: pool.id, display_name: pool.info?.displayName ?? pool.id, created_at: createdAt };
}

/**
 * GET /v1/models for Anthropic clients. `after_id`, `before_id` and `limit` page as Anthropic's
 * API does, but without `limit` every model is listed (Anthropic's default page is 20): clients
 * that do not follow `has_more` still see them all.
 */
export function handleAnthropicModels(ctx: RequestContext): void {
  const { registry } = ctx.snap;
  const createdAt = new Date(registry.created * 1000).toISOString();
  let items = registry.list.map((pool) => modelInfo(pool, createdAt));
  const after = ctx.query?.get('after_id');
  const before = ctx.query?.get('before_id');
  if (after) {
    const i = items.findIndex((m) => m.id === after);
    items = i < 0 ? [] : items.slice(i + 1);
  }
  if (before) {
    const i = items.findIndex((m) => m.id === before);
    items = i < 0 ? [] : items.slice(0, i);
  }
  const limit = Number(ctx.query?.get('limit') ?? NaN);
  let hasMore = false;
  if (Number.isInteger(limit) && limit > 0 && items.length > limit) {
    hasMore = true;
    items = before && !after ? items.slice(-limit) : items.slice(0, limit);
  }
  sendJson(ctx, 200, { data: items, has_more: hasMore, first_id: items[0]?.id ?? null, last_id: items.at(-1)?.id ?? null });
}

/** GET /v1/models/{id} for Anthropic clients. */
export function handleAnthropicModel(ctx: RequestContext, id: string): void {
  const pool = resolvePool(ctx.snap.registry, id);
  if (!pool) throw modelNotFound(id);
  sendJson(ctx, 200, modelInfo(pool, new Date(ctx.snap.registry.created * 1000).toISOString()));
}
