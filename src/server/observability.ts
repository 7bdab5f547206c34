/**
 * The observability routes, as a Mount placed before the management API: `GET /metrics`
 * (Prometheus text; behind the management guard unless `metrics.public: true`), and under
 * /v0/management, with the same guard and `{"error": "..."}` answers as the rest of it:
 * `GET usage` (`?from=&to=`, ISO dates/times or unix seconds; `?details=N|all|none`),
 * `GET usage/export`, `POST usage/import` and `GET request-log/:id`.
 */
import type { Mount } from './app.js';
import { sendJson, type RequestContext } from './context.js';
import { ManagementError, readBodyText } from './management-common.js';
import type { ManagementGuard } from './management-guard.js';
import { MANAGEMENT_PREFIX } from './management.js';
import type { UsageRange, UsageStore } from '../observe/usage-store.js';

/** An export of a large database is big; past this an import is refused rather than parsed. */
const IMPORT_LIMIT = 128 * 1024 * 1024;
/** Per-request details listed per client and model by GET usage unless ?details= says otherwise. */
const DEFAULT_DETAILS = 100;

const USAGE = `${MANAGEMENT_PREFIX}/usage`;
const EXPORT = `${MANAGEMENT_PREFIX}/usage/export`;
const IMPORT = `${MANAGEMENT_PREFIX}/usage/import`;
const REQUEST_LOG = `${MANAGEMENT_PREFIX}/request-log/`;

function reply(ctx: RequestContext, status: number, value: unknown): void {
  const extra: Record<string, string> = { 'cache-control': 'no-store' };
  if (!ctx.req.complete) extra.connection = 'close';
  sendJson(ctx, status, value, extra);
}

function text(ctx: RequestContext, body: string, contentType: string): void {
  ctx.res.writeHead(200, { ...ctx.headers, 'cache-control': 'no-store', 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  ctx.res.end(body);
}

/** Unix seconds, an ISO date (a whole local day: `to` includes it) or an ISO date-time. */
export function parseTime(value: string | null, name: string, end: boolean): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) {
    const midnight = Date.parse(`${v}T00:00:00`);
    if (Number.isFinite(midnight)) return end ? midnight + 86_400_000 : midnight;
  }
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) throw new ManagementError(400, `invalid ${name}: expected an ISO date or date-time, or unix seconds`);
  return ms;
}

function rangeOf(query: URLSearchParams): UsageRange {
  return { from: parseTime(query.get('from'), 'from', false), to: parseTime(query.get('to'), 'to', true) };
}

function detailsLimit(query: URLSearchParams): number {
  const v = query.get('details');
  if (v === null || v === '') return DEFAULT_DETAILS;
  if (v === 'all') return Infinity;
  if (v === 'none' || v === 'false') return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ManagementError(400, 'invalid details: expected a count, "all" or "none"');
  return n;
}

const readBody = (ctx: RequestContext) => readBodyText(ctx, IMPORT_LIMIT);

/** A store call; a database that cannot answer (PostgreSQL down or slow) is a 503, not a 500. */
async function fromStore<T>(ctx: RequestContext, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    ctx.rt.log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code }, requestId: ctx.requestId }, 'usage statistics: database query failed');
    throw new ManagementError(503, `usage database unavailable: ${(err as Error).message}`);
  }
}

async function usageRoute(ctx: RequestContext, store: UsageStore): Promise<void> {
  const { path, req } = ctx;
  const query = ctx.query ?? new URLSearchParams();
  const method = req.method ?? 'GET';
  if (path === USAGE || path === EXPORT) {
    if (method !== 'GET') throw new ManagementError(405, 'method not allowed', { allow: 'GET' });
    const range = rangeOf(query);
    const details = path === EXPORT ? Infinity : detailsLimit(query);
    let usage = await fromStore(ctx, store.snapshot(range, details));
    // Several instances on one Redis, each with its own store: every instance's figures, added up.
    const cluster = ctx.rt.usageShare && !store.shared ? await ctx.rt.usageShare.gather(usage, range, details) : undefined;
    if (cluster) usage = cluster.usage;
    if (path === EXPORT) return reply(ctx, 200, { version: 1, exported_at: new Date().toISOString(), usage });
    const stores = cluster ? { stores: cluster.stores, stores_missing: cluster.missing } : {};
    return reply(ctx, 200, { usage, failed_requests: usage.failure_count, enabled: ctx.snap.config['usage-statistics-enabled'], ...stores });
  }
  if (method !== 'POST') throw new ManagementError(405, 'method not allowed', { allow: 'POST' });
  let body: unknown;
  try {
    body = JSON.parse(await readBody(ctx));
  } catch (err) {
    if (err instanceof ManagementError) throw err;
    throw new ManagementError(400, `invalid body: ${(err as Error).message}`);
  }
  // Our export ({version, usage}) or a bare snapshot (CLI Proxy API's).
  const snapshot = body !== null && typeof body === 'object' && 'usage' in body ? (body as { usage: unknown }).usage : body;
  if (snapshot === null || typeof snapshot !== 'object' || !('apis' in snapshot)) throw new ManagementError(400, 'invalid body: expected an export ({"version":1,"usage":{...}})');
  const result = await fromStore(ctx, store.import(snapshot));
  const totals = await fromStore(ctx, store.snapshot({}, 0));
  reply(ctx, 200, { ...result, total_requests: totals.total_requests, failed_requests: totals.failure_count });
}

async function route(ctx: RequestContext): Promise<void> {
  const { path } = ctx;
  const observe = ctx.rt.observe;
  if (path === '/metrics') {
    if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') throw new ManagementError(405, 'method not allowed', { allow: 'GET' });
    return text(ctx, await observe.metrics.text(), observe.metrics.contentType);
  }
  if (path.startsWith(REQUEST_LOG)) {
    if (ctx.req.method !== 'GET') throw new ManagementError(405, 'method not allowed', { allow: 'GET' });
    const log = await observe.requestLogs().read(decodeURIComponent(path.slice(REQUEST_LOG.length)));
    if (log === undefined) throw new ManagementError(404, 'request log not found');
    return text(ctx, log, 'text/plain; charset=utf-8');
  }
  const store = await observe.usage();
  if (!store) throw new ManagementError(503, 'usage database unavailable (see the server log)');
  return usageRoute(ctx, store);
}

/** The /metrics and management usage/request-log mount; `guard` is the management API's. */
export function createObservabilityRoutes(guard: ManagementGuard): Mount {
  return async (ctx) => {
    const { path } = ctx;
    const isMetrics = path === '/metrics';
    if (!isMetrics && path !== USAGE && path !== EXPORT && path !== IMPORT && !path.startsWith(REQUEST_LOG)) return false;
    try {
      const config = ctx.snap.config;
      if (!isMetrics || !config.metrics.public) {
        if (!guard.enabled(config)) {
          throw new ManagementError(404, isMetrics ? 'not found: /metrics needs remote-management.secret-key (or MANAGEMENT_PASSWORD), or metrics.public: true' : 'not found');
        }
        await guard.check(ctx.req, config);
      }
      await route(ctx);
    } catch (err) {
      if (ctx.res.headersSent) return true;
      if (err instanceof ManagementError) {
        Object.assign(ctx.headers, err.headers);
        reply(ctx, err.status, { error: err.message });
      } else {
        ctx.rt.log.error({ err, path, requestId: ctx.requestId }, 'observability request failed');
        reply(ctx, 500, { error: 'internal error' });
      }
    }
    return true;
  };
}
