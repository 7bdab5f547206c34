/**
 * The OpenAI-compatible client API: /v1/models, /v1/chat/completions, /v1/completions,
 * /v1/embeddings. Bodies pass through with only `model` renamed; answers come back as the
 * upstream sent them (with `model` mapped back when force-mapping is on).
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Config } from '../config/schema.js';
import { ProxyError, UpstreamReply, badRequest } from '../errors.js';
import { execute, type Committed } from '../execute.js';
import { sessionKeyOf } from '../routing/affinity.js';
import { resolvePool, type Pool, type Registry, type Target } from '../routing/registry.js';
import { renameModel } from '../upstream/rewrite.js';
import { rejectsStreamOptions, requestStreamUsage, usageFromBody } from '../observe/usage.js';
import { readJsonBody } from './body.js';
import { clientSignal, sendJson, type RequestContext } from './context.js';
import { openaiErrorBody } from './errors.js';
import { respond } from './responses.js';
import { relayStream, type EventMapper } from './sse.js';
import { startNonStreamKeepAlive, streamKeepAlive } from './keepalive.js';

function modelEntry(pool: Pool, created: number) {
  const entry: Record<string, unknown> = { id: pool.id, object: 'model', created, owned_by: pool.ownedBy };
  // Catalog facts as CLI Proxy API lists them, only where configured.
  const { displayName, contextLength } = pool.info ?? {};
  if (displayName) entry.display_name = displayName;
  if (contextLength) entry.context_length = entry.max_context_length = contextLength;
  return entry;
}

export function listModels(registry: Registry) {
  return { object: 'list', data: registry.list.map((pool) => modelEntry(pool, registry.created)) };
}

export function handleListModels(ctx: RequestContext): void {
  sendJson(ctx, 200, listModels(ctx.snap.registry));
}

export function handleGetModel(ctx: RequestContext, id: string): void {
  const pool = resolvePool(ctx.snap.registry, id);
  if (!pool) throw modelNotFound(id);
  sendJson(ctx, 200, modelEntry(pool, ctx.snap.registry.created));
}

export function modelNotFound(model: string): ProxyError {
  return new ProxyError(404, 'model_not_found', `The model '${model}' does not exist or is not served by this proxy (see GET /v1/models)`);
}

/** Which body fields each endpoint must have, checked before any upstream is bothered. */
const REQUIRED_ARRAYS: Record<string, string | undefined> = { '/chat/completions': 'messages' };

/** Reads the model of a request body and resolves its pool (400 / 404 otherwise). */
export function resolveRequestModel(ctx: RequestContext, json: Record<string, unknown>): Pool {
  const model = json.model;
  if (model === undefined) throw badRequest('missing required field "model"', 'missing_model');
  if (typeof model !== 'string' || model.trim() === '') throw badRequest('"model" must be a non-empty string', 'invalid_model');
  ctx.info.model = model;
  const pool = resolvePool(ctx.snap.registry, model);
  if (!pool) throw modelNotFound(model);
  ctx.info.alias = pool.id;
  return pool;
}

/** Upstream response headers a client may see (hop-by-hop, cookies, lengths, secrets and our own removed). */
const DROPPED_HEADERS = new Set([
  'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'set-cookie', 'set-cookie2', 'te', 'trailer',
  'upgrade', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'authorization', 'x-api-key', 'date', 'server',
  'x-request-id', 'alt-svc', 'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-headers',
  'access-control-allow-methods', 'access-control-expose-headers', 'access-control-max-age', 'via',
]);

/** Headers that AI gateways add and that clients (Claude Code) read as "behind a gateway", as CLI Proxy API strips them. */
const GATEWAY_PREFIXES = ['x-litellm-', 'helicone-', 'x-portkey-', 'cf-aig-', 'x-kong-', 'x-bt-'];

export function passthroughHeaders(upstream: IncomingHttpHeaders | Record<string, string | string[] | undefined>, into: OutgoingHttpHeaders): OutgoingHttpHeaders {
  // Names listed in Connection are hop-by-hop too (RFC 9110 §7.6.1).
  const connection = upstream.connection;
  const scoped = typeof connection === 'string' ? connection.toLowerCase().split(',').map((t) => t.trim()) : [];
  for (const name in upstream) {
    if (DROPPED_HEADERS.has(name) || name.startsWith('x-cliproxy-') || (scoped.length > 0 && scoped.includes(name))) continue;
    if (GATEWAY_PREFIXES.some((p) => name.startsWith(p))) continue;
    into[name] = upstream[name];
  }
  const upstreamId = upstream['x-request-id'];
  if (upstreamId !== undefined) into['x-upstream-request-id'] = upstreamId;
  return into;
}

/**
 * The answer's headers: ours, plus the upstream's when `passthrough-headers` is on or unset
 * (cliproxy's default); `passthrough-headers: false` (CLI Proxy API's default) keeps only the
 * content type.
 */
export function upstreamHeaders(config: Config, upstream: IncomingHttpHeaders, into: OutgoingHttpHeaders): OutgoingHttpHeaders {
  if (config['passthrough-headers'] !== false) return passthroughHeaders(upstream, into);
  const type = upstream['content-type'];
  if (type !== undefined) into['content-type'] = type;
  return into;
}

/** Response headers that say how the request was routed: provider and credential index, never the key. */
export function routingHeaders(ctx: RequestContext, committed: Committed): Record<string, string> {
  ctx.info.provider = committed.target.provider.name;
  ctx.info.upstreamModel = committed.target.upstreamModel;
  ctx.info.credential = committed.credential.index;
  ctx.info.attempts = committed.attempts;
  return {
    'x-cliproxy-provider': committed.target.provider.name,
    'x-cliproxy-credential': String(committed.credential.index),
    'x-cliproxy-attempts': String(committed.attempts),
  };
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/** The wire text of a mid-stream error event for OpenAI clients. */
export const openaiErrorEvent = (error: ProxyError) => `data: ${JSON.stringify(openaiErrorBody(error))}\n\n`;

/** Maps `model` in each event back to the client-visible id (force-mapping). */
function forceMappingMapper(visibleId: string, keepAlive: EventMapper['keepAlive']): EventMapper {
  return {
    event: (data) => `data: ${data === '[DONE]' ? data : renameModel(data, visibleId)}\n\n`,
    end: () => '',
    keepAlive,
  };
}

/** POST /v1/chat/completions, /v1/completions, /v1/embeddings. */
export async function handleProxy(ctx: RequestContext, upstreamPath: string): Promise<void> {
  const { raw, json } = await readJsonBody(ctx.req, ctx.snap.bodyLimitBytes);
  ctx.requestLog?.requestBody(raw);
  // CLI Proxy API's rule: a chat completions body with `input` and no `messages` is a Responses request.
  if (upstreamPath === '/chat/completions' && json.messages === undefined && json.input !== undefined) return respond(ctx, raw, json);
  const required = REQUIRED_ARRAYS[upstreamPath];
  if (required && !Array.isArray(json[required])) {
    throw badRequest(`"${required}" must be an array`, `invalid_${required}`);
  }
  const pool = resolveRequestModel(ctx, json);
  const stream = json.stream === true;
  const requested = json.model as string;
  const sessionKey = ctx.snap.config.routing['session-affinity'] ? sessionKeyOf(json, ctx.req.headers) : undefined;
  const signal = clientSignal(ctx.res);
  const run = (text: string) => {
    const body = (target: Target) => (target.upstreamModel === requested ? text : renameModel(text, target.upstreamModel));
    const request = { model: requested, from: 'openai' as const, headers: ctx.req.headers };
    // `chat`: native upstreams translate the parsed request instead of parsing the body again.
    return execute(ctx.rt, ctx.snap, { pool, path: upstreamPath, stream, body, signal, sessionKey, timing: ctx.timing, chat: json, request });
  };
  // Streams: ask for the final usage chunk (usage statistics, token metrics); it reaches the
  // client only if the client asked for it too.
  const usage = stream && upstreamPath !== '/embeddings' ? requestStreamUsage(raw, json) : undefined;
  let strip = usage !== undefined && !usage.clientAsked;
  let committed: Committed;
  const stopKeepAlive = stream ? undefined : startNonStreamKeepAlive(ctx);
  try {
    committed = await run(usage?.body ?? raw);
  } catch (err) {
    // An upstream that refuses stream_options gets the client's body as it was.
    if (!strip || !(err instanceof UpstreamReply) || !rejectsStreamOptions(err.status, err.body)) throw err;
    strip = false;
    committed = await run(raw);
  } finally {
    stopKeepAlive?.();
  }
  const routing = routingHeaders(ctx, committed);
  const mapBack = committed.target.forceMapping;
  if (committed.kind === 'body') {
    ctx.info.usage = usageFromBody(committed.body);
    const out = mapBack ? Buffer.from(renameModel(committed.body.toString('utf8'), pool.id)) : committed.body;
    if (ctx.res.headersSent) return void ctx.res.end(out); // newlines went out first (nonstream-keepalive-interval)
    const headers = upstreamHeaders(ctx.snap.config, committed.headers, { ...ctx.headers, ...routing });
    headers['content-length'] = out.length;
    ctx.res.writeHead(committed.status, headers);
    ctx.res.end(out);
    return;
  }
  const headers = upstreamHeaders(ctx.snap.config, committed.headers, { ...ctx.headers, ...routing });
  ctx.res.writeHead(committed.status, Object.assign(headers, SSE_HEADERS));
  ctx.res.flushHeaders();
  const tap = ctx.rt.observe.streamTap(ctx, strip);
  const keepAlive = streamKeepAlive(ctx.snap.config);
  await relayStream(ctx.res, committed, { mapper: mapBack ? forceMappingMapper(pool.id, keepAlive) : undefined, errorEvent: openaiErrorEvent, tap, keepAlive });
}
