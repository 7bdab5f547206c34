/**
 * The HTTP front: one node:http server (no framework on the hot path), request ids, CORS, auth
 * for /v1, routing to handlers, and the single place where thrown errors become responses.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ClientGone, ProxyError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import { authenticate } from './auth.js';
import type { RequestContext } from './context.js';
import { sendJson } from './context.js';
import { handleAnthropicModel, handleAnthropicModels, handleCountTokens, handleMessages, wantsAnthropicErrors } from './anthropic.js';
import { sendError, toProxyError, type ErrorShape } from './errors.js';
import { isGeminiRequest, routeGemini } from './gemini.js';
import { handleGetModel, handleListModels, handleProxy } from './openai.js';
import { handleCompact, handleResponses, handleStoredResponse } from './responses.js';
import { VERSION } from '../version.js';
import { newTiming } from '../observe/response.js';

/** A sub-application mounted under a path prefix (management, metrics, ...). */
export type Mount = (ctx: RequestContext) => Promise<boolean> | boolean;

const CORS_PREFLIGHT = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
  'access-control-max-age': '86400',
};

const PROXIED: Record<string, string> = {
  '/v1/chat/completions': '/chat/completions',
  '/v1/completions': '/completions',
  '/v1/embeddings': '/embeddings',
};

const CODEX_RESPONSES = '/backend-api/codex/responses';

const ENDPOINTS = [
  'GET /v1/models',
  'GET /v1/models/{id}',
  ...Object.keys(PROXIED).map((p) => `POST ${p}`),
  'POST /v1/messages',
  'POST /v1/messages/count_tokens',
  'POST /v1/responses',
  'POST /v1/responses/compact',
  'GET /v1/responses/{id}',
  'DELETE /v1/responses/{id}',
  'GET /v1/responses/{id}/input_items',
  'GET /v1beta/models',
  'GET /v1beta/models/{model}',
  'POST /v1beta/models/{model}:generateContent',
  'POST /v1beta/models/{model}:streamGenerateContent',
  'POST /v1beta/models/{model}:countTokens',
  'POST /v1beta/models/{model}:embedContent',
  'POST /v1beta/models/{model}:batchEmbedContents',
  'GET /healthz',
];

function methodNotAllowed(ctx: RequestContext, allowed: string): never {
  ctx.headers.allow = allowed;
  throw new ProxyError(405, 'method_not_allowed', `${ctx.req.method} is not allowed on ${ctx.path}; use ${allowed}`);
}

async function routeV1(ctx: RequestContext): Promise<void> {
  const { path, req } = ctx;
  ctx.info.client = authenticate(ctx.snap, req, ctx.query);
  const upstreamPath = PROXIED[path];
  if (upstreamPath) {
    if (req.method !== 'POST') methodNotAllowed(ctx, 'POST');
    return handleProxy(ctx, upstreamPath);
  }
  if (path === '/v1/messages' || path === '/v1/messages/count_tokens') {
    if (req.method !== 'POST') methodNotAllowed(ctx, 'POST');
    return path === '/v1/messages' ? handleMessages(ctx) : handleCountTokens(ctx);
  }
  if (path === '/v1/responses') {
    if (req.method !== 'POST') methodNotAllowed(ctx, 'POST');
    return handleResponses(ctx);
  }
  if (path === '/v1/responses/compact') {
    if (req.method !== 'POST') methodNotAllowed(ctx, 'POST');
    return handleCompact(ctx);
  }
  if (path.startsWith('/v1/responses/')) return handleStoredResponse(ctx, path.slice('/v1/responses/'.length));
  // Anthropic SDKs send anthropic-version on every request: they get Anthropic's model format.
  const anthropic = req.headers['anthropic-version'] !== undefined;
  if (path === '/v1/models' || path === '/v1/models/') {
    if (req.method !== 'GET') methodNotAllowed(ctx, 'GET');
    return anthropic ? handleAnthropicModels(ctx) : handleListModels(ctx);
  }
  if (path.startsWith('/v1/models/')) {
    if (req.method !== 'GET') methodNotAllowed(ctx, 'GET');
    const id = decodeURIComponent(path.slice('/v1/models/'.length));
    return anthropic ? handleAnthropicModel(ctx, id) : handleGetModel(ctx, id);
  }
  throw new ProxyError(404, 'not_found', `no such endpoint: ${req.method} ${path}`);
}

export interface AppOptions {
  readonly rt: Runtime;
  /** Sub-applications tried in order before the built-in routes; one returns true if it answered. */
  readonly mounts?: readonly Mount[];
}

export function createRequestListener(options: AppOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { rt, mounts = [] } = options;
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const started = performance.now();
    const ctx: RequestContext = {
      req,
      res,
      path: q < 0 ? url : url.slice(0, q),
      query: q < 0 ? undefined : new URLSearchParams(url.slice(q + 1)),
      snap: rt.store.current(),
      rt,
      requestId: randomUUID(),
      started,
      headers: {},
      info: {},
      timing: newTiming(started),
    };
    ctx.headers['x-request-id'] = ctx.requestId;
    ctx.headers['access-control-allow-origin'] = '*';
    ctx.headers['access-control-expose-headers'] = 'x-request-id, x-cliproxy-provider, x-cliproxy-attempts, x-cliproxy-overhead-ms, retry-after';
    rt.observe.begin(ctx);
    handle(ctx, mounts).catch((err) => fail(ctx, err));
  };
}

async function handle(ctx: RequestContext, mounts: readonly Mount[]): Promise<void> {
  const { req, path } = ctx;
  if (req.method === 'OPTIONS') {
    ctx.res.writeHead(204, {
      ...ctx.headers,
      ...CORS_PREFLIGHT,
      'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '*',
    });
    ctx.res.end();
    return;
  }
  if (isWebSocketUpgrade(req)) refuseWebSocket(ctx);
  if (isGeminiRequest(ctx)) return routeGemini(ctx);
  if (path.startsWith('/v1/')) return routeV1(ctx);
  if (path === CODEX_RESPONSES) {
    // Codex's ChatGPT-login path: the same Responses API, for configs that point there.
    ctx.info.client = authenticate(ctx.snap, req, ctx.query);
    if (req.method !== 'POST') methodNotAllowed(ctx, 'POST');
    return handleResponses(ctx);
  }
  for (const mount of mounts) if (await mount(ctx)) return;
  // HEAD as GET without a body (node:http drops it): Claude Code sends `HEAD /` before its first request.
  const get = req.method === 'GET' || req.method === 'HEAD';
  if (path === '/healthz' && get) return sendJson(ctx, 200, { status: 'ok' });
  if (path === '/' && get) return sendJson(ctx, 200, { name: 'cliproxy', version: VERSION, endpoints: ENDPOINTS });
  throw new ProxyError(404, 'not_found', `no such endpoint: ${req.method} ${path}`);
}

/** A WebSocket handshake (node:http hands it to the request listener while no 'upgrade' listener exists). */
function isWebSocketUpgrade(req: RequestContext['req']): boolean {
  const upgrade = req.headers.upgrade;
  return typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket';
}

/**
 * cliproxy speaks HTTP only. Codex CLI with the built-in OpenAI provider opens the Responses API
 * as a WebSocket first: 426 is the one answer that makes it switch to HTTP at once (anything else
 * costs five reconnects, about 16 s, every session). The connection is closed after the answer.
 */
function refuseWebSocket(ctx: RequestContext): never {
  ctx.headers.connection = 'close';
  throw new ProxyError(426, 'websocket_unsupported', 'cliproxy serves this API over HTTP only: send the request as an HTTP POST');
}

function fail(ctx: RequestContext, err: unknown): void {
  if (err instanceof ClientGone || ctx.res.destroyed) return;
  const error = toProxyError(err);
  if (!(err instanceof ProxyError)) ctx.rt.log.error({ err, path: ctx.path, requestId: ctx.requestId }, 'unhandled error');
  if (error.attempts !== undefined) ctx.headers['x-cliproxy-attempts'] = String(error.attempts);
  // An answer an upstream produced (or the last upstream tried, when all failed) names it.
  if (error.lastTried) {
    ctx.info.provider ??= error.lastTried.provider;
    ctx.info.credential ??= error.lastTried.credential;
    ctx.headers['x-cliproxy-provider'] = error.lastTried.provider;
    ctx.headers['x-cliproxy-credential'] = String(error.lastTried.credential);
  }
  // A body we did not read (e.g. 413) must not be parsed as the next request.
  if (!ctx.req.complete) ctx.headers.connection = 'close';
  sendError(ctx.res, error, ctx.headers, errorShape(ctx));
}

/** Each client API gets errors in its own shape. */
function errorShape(ctx: RequestContext): ErrorShape {
  if (isGeminiRequest(ctx)) return 'gemini';
  return wantsAnthropicErrors(ctx) ? 'anthropic' : 'openai';
}
