/**
 * The observability services of one gateway, and the two moments a request meets them: `begin`
 * (arrival: link the response to its context, open a request log if on) and `finish` (the
 * response closed: metrics, access log line, usage record). Everything per request is in memory;
 * disk work (SQLite, log files) is batched or asynchronous.
 */
import { dirname, resolve } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { ConfigStore, Snapshot } from '../config/store.js';
import type { Balancer } from '../routing/balancer.js';
import type { RequestContext } from '../server/context.js';
import type { StreamTap } from '../server/sse.js';
import { accessLog } from './access-log.js';
import { maskSecret, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { RequestLogs } from './request-log.js';
import { ObservedResponse } from './response.js';
import { UsageTap } from './usage.js';
import { masked, openUsageStore, usageLimits, usageLocation, type UsageStore, type UsageStoreStats } from './usage-store.js';

export interface ObservabilityOptions {
  readonly store: ConfigStore;
  readonly balancer: Balancer;
  readonly log: Logger;
}

/** Endpoint label values: the routes themselves, never raw paths (unbounded). */
const ENDPOINTS = new Set([
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/messages',
  '/v1/messages/count_tokens',
  '/v1/responses',
  '/backend-api/codex/responses',
  '/v1/models',
  '/healthz',
  '/metrics',
  '/',
]);

/** Requests that count in usage statistics: those that ask an upstream for tokens. */
const USAGE_ENDPOINTS = new Set([
  '/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/messages', '/v1/responses', '/backend-api/codex/responses',
  '/v1beta/models/{model}:generateContent', '/v1beta/models/{model}:streamGenerateContent',
  '/v1/models/{model}:generateContent', '/v1/models/{model}:streamGenerateContent',
  '/v1beta/models/{model}:embedContent', '/v1beta/models/{model}:batchEmbedContents',
]);

const GEMINI_METHODS = new Set(['generateContent', 'streamGenerateContent', 'countTokens', 'embedContent', 'batchEmbedContents']);

/** Gemini API routes carry the model in the path: `/v1beta/models/{model}:method`. */
function geminiEndpoint(path: string): string | undefined {
  const beta = path.startsWith('/v1beta/');
  if (!beta && !path.startsWith('/v1/models/')) return undefined;
  const colon = path.lastIndexOf(':');
  const method = colon > path.lastIndexOf('/') ? path.slice(colon + 1) : '';
  const prefix = beta ? '/v1beta' : '/v1';
  if (GEMINI_METHODS.has(method)) return `${prefix}/models/{model}:${method}`;
  if (!beta) return undefined;
  if (path === '/v1beta/models') return path;
  return path.startsWith('/v1beta/models/') ? '/v1beta/models/{model}' : 'other';
}

export function endpointOf(path: string): string {
  if (ENDPOINTS.has(path)) return path;
  const gemini = geminiEndpoint(path);
  if (gemini) return gemini;
  if (path.startsWith('/v1/models/')) return '/v1/models/{id}';
  if (path.startsWith('/v1/responses/')) return '/v1/responses/{id}';
  if (path.startsWith('/v0/management')) return '/v0/management';
  return 'other';
}

/** Where a config path points: relative to the directory of config.yaml. */
function besideConfig(store: ConfigStore, path: string): string {
  return resolve(store.path ? dirname(store.path) : process.cwd(), path);
}

/** Watches one relayed stream: usage from its last chunk, and how it ended. */
class StreamWatch extends UsageTap implements StreamTap {
  constructor(
    private readonly ctx: RequestContext,
    strip: boolean,
    usageKey?: Buffer,
  ) {
    super(strip, usageKey);
  }

  end(outcome: 'complete' | 'client-gone' | 'upstream-error'): void {
    this.ctx.info.stream = outcome;
    if (this.usage) this.ctx.info.usage = this.usage;
  }
}

/** Shared 'close' listener (no closure per request): the response knows its context. */
function onClose(this: ObservedResponse): void {
  const ctx = this.ctx;
  if (ctx) ctx.rt.observe.finish(ctx);
}

/** Per-request log output: the response's writes are copied to the log before they go out. */
function tracedWrite(this: ObservedResponse, ...args: unknown[]): boolean {
  this.ctx?.requestLog?.body(args[0]);
  return (ObservedResponse.prototype.write as (...a: unknown[]) => boolean).apply(this, args);
}

function tracedEnd(this: ObservedResponse, ...args: unknown[]): ObservedResponse {
  if (typeof args[0] !== 'function') this.ctx?.requestLog?.body(args[0]);
  return (ObservedResponse.prototype.end as (...a: unknown[]) => ObservedResponse).apply(this, args);
}

export class Observability {
  private usageStore: UsageStore | undefined;
  private opening: Promise<UsageStore | undefined> | undefined;
  private openingPath: string | undefined;
  /** Records dropped by usage stores replaced since start (keeps the /metrics counter monotonic). */
  private droppedBefore = 0;
  private logs: RequestLogs | undefined;
  private closed = false;

  private constructor(
    readonly metrics: Metrics,
    private readonly store: ConfigStore,
    private readonly log: Logger,
  ) {}

  static async create(options: ObservabilityOptions): Promise<Observability> {
    const { store, balancer } = options;
    const metrics = await Metrics.create(() => coolingByProvider(store.current(), balancer));
    const observe = new Observability(metrics, store, options.log);
    metrics.usageStats = () => observe.usageStats();
    await observe.configure(store.current());
    store.onSwap((next) => void observe.configure(next));
    return observe;
  }

  /** Follows the config: opens the usage database when statistics are (or become) enabled. */
  private async configure(snap: Snapshot): Promise<void> {
    const config = snap.config;
    if (config['usage-statistics-enabled']) await this.usage(snap);
    this.usageStore?.setLimits(usageLimits(config));
    if (this.logs) {
      const dir = besideConfig(this.store, config['logs-dir'] ?? 'logs');
      if (dir !== this.logs.dir) this.logs = undefined;
      else this.logs.setMaxBytes(config['logs-max-total-size-mb'] * 1024 * 1024);
    }
  }

  /** The usage store of the current config (opened on first use); undefined if it cannot be opened. */
  async usage(snap = this.store.current()): Promise<UsageStore | undefined> {
    const path = usageLocation(snap.config['usage-db'], this.store.path);
    if (this.usageStore?.source === path) return this.usageStore;
    if (this.opening && this.openingPath === path) return this.opening;
    this.openingPath = path;
    const opening = (this.opening = (async () => {
      try {
        const next = await openUsageStore(path, { log: this.log, ...usageLimits(snap.config) });
        if (this.closed) {
          await next.close();
          return undefined;
        }
        const previous = this.usageStore;
        this.usageStore = next;
        if (previous) {
          this.droppedBefore += previous.stats().dropped;
          void previous.close();
        }
        return next;
      } catch (err) {
        this.log.error({ err, path: masked(path) }, 'usage statistics: cannot open the database');
        return undefined;
      }
    })());
    return opening;
  }

  /** The usage store's buffer, for /metrics (undefined while none is open). */
  usageStats(): UsageStoreStats | undefined {
    const stats = this.usageStore?.stats();
    return stats && { ...stats, dropped: stats.dropped + this.droppedBefore };
  }

  /** The request-log directory of the current config. */
  requestLogs(snap = this.store.current()): RequestLogs {
    const config = snap.config;
    if (!this.logs) {
      this.logs = new RequestLogs(besideConfig(this.store, config['logs-dir'] ?? 'logs'), config['logs-max-total-size-mb'] * 1024 * 1024, this.log);
      void this.logs.prepare();
    }
    return this.logs;
  }

  /** A request arrived. */
  begin(ctx: RequestContext): void {
    const res = ctx.res;
    if (res instanceof ObservedResponse) {
      res.ctx = ctx;
      res.on('close', onClose);
    } else {
      res.once('close', () => this.finish(ctx));
    }
    // API requests only: management bodies are configuration documents.
    if (ctx.snap.config['request-log'] && (ctx.path.startsWith('/v1/') || ctx.path.startsWith('/v1beta/') || ctx.path.startsWith('/backend-api/'))) this.startRequestLog(ctx, res);
  }

  private startRequestLog(ctx: RequestContext, res: ServerResponse): void {
    const log = this.requestLogs(ctx.snap).open(ctx.requestId, ctx.snap);
    log.request(ctx.requestId, ctx.req.method ?? 'GET', ctx.req.url ?? '/', ctx.req.headers);
    ctx.requestLog = log;
    ctx.timing.onAttempt = log.attempt.bind(log);
    if (res instanceof ObservedResponse) {
      res.write = tracedWrite as ObservedResponse['write'];
      res.end = tracedEnd as ObservedResponse['end'];
    }
  }

  /** A stream is about to be relayed: watch it for usage (and drop the usage chunk if only we asked for it). */
  streamTap(ctx: RequestContext, strip: boolean, usageKey?: Buffer): StreamTap {
    ctx.info.stream = 'open';
    this.metrics.streamOpened();
    return new StreamWatch(ctx, strip, usageKey);
  }

  /** The response closed (sent, or the client left). */
  finish(ctx: RequestContext): void {
    const { res, timing: t, info } = ctx;
    const totalMs = performance.now() - t.started;
    const status = res.writableFinished ? res.statusCode : 499; // 499: the client closed first
    if (t.committedAt === 0) t.overheadMs = Math.max(0, totalMs - t.upstreamMs);
    const stream = info.stream !== undefined;
    if (stream) this.metrics.streamClosed();
    // A stream's time after its headers is spent relaying what the upstream sends.
    const upstreamMs = stream ? Math.max(0, totalMs - t.overheadMs) : t.upstreamMs;
    this.metrics.record({
      endpoint: endpointOf(ctx.path),
      model: info.alias ?? '',
      provider: info.provider ?? '',
      status,
      totalMs,
      upstreamMs,
      overheadMs: t.overheadMs,
      ttfcMs: stream ? t.committedAt - t.started : undefined,
      attempts: t.attempts,
      usage: info.usage,
    });
    accessLog(this.log, {
      method: ctx.req.method,
      path: ctx.path,
      model: info.model,
      provider: info.provider,
      status,
      ms: totalMs,
      overheadMs: t.overheadMs,
      requestId: ctx.requestId,
    });
    const config = ctx.snap.config;
    if (config['usage-statistics-enabled'] && info.alias !== undefined && USAGE_ENDPOINTS.has(endpointOf(ctx.path))) {
      this.recordUsage(ctx, status, totalMs, stream);
    }
    ctx.requestLog?.end(`${status}, ${totalMs.toFixed(1)} ms total, ${t.overheadMs.toFixed(3)} ms overhead, ${t.attempts} attempt(s)`);
  }

  private recordUsage(ctx: RequestContext, status: number, totalMs: number, stream: boolean): void {
    const store = this.usageStore;
    if (!store) return;
    const { info, timing: t } = ctx;
    const clientIndex = info.client ?? -1;
    const key = clientIndex >= 0 ? ctx.snap.config['api-keys'][clientIndex] : undefined;
    const u = info.usage;
    store.record({
      ts: Date.now() - Math.round(totalMs),
      requestId: ctx.requestId,
      client: key === undefined ? 'open' : maskSecret(key),
      clientIndex,
      model: info.alias ?? info.model ?? 'unknown',
      upstreamModel: info.upstreamModel ?? '',
      provider: info.provider ?? t.lastProvider ?? '',
      credential: info.credential ?? t.lastCredential ?? -1,
      status,
      failed: status >= 400 || info.stream === 'upstream-error',
      latencyMs: totalMs,
      ttftMs: stream ? t.committedAt - t.started : null,
      input: u?.input ?? 0,
      output: u?.output ?? 0,
      reasoning: u?.reasoning ?? 0,
      cached: u?.cached ?? 0,
      total: u?.total ?? 0,
    });
  }

  /** Flushes and closes the usage database; drops this gateway's metrics. */
  async close(): Promise<void> {
    this.closed = true;
    await this.opening;
    await this.usageStore?.close();
    this.metrics.close();
  }
}

/** Cooling (credential, upstream model) pairs per provider, from the balancer's public view. */
function coolingByProvider(snap: Snapshot, balancer: Balancer): Map<string, number> {
  const out = new Map<string, number>();
  const seen = new Set<string>();
  const now = Date.now();
  for (const pool of snap.registry.list) {
    for (const target of pool.members) {
      for (const credential of target.provider.credentials) {
        const key = `${credential.stateKey}\u0000${target.upstreamModel}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const name = target.provider.name;
        if (!out.has(name)) out.set(name, 0);
        if (balancer.isCooling(target, credential, now)) out.set(name, out.get(name)! + 1);
      }
    }
  }
  return out;
}
