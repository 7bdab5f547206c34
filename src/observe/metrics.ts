/**
 * Prometheus metrics (prom-client). Each gateway has its own registry; prom-client's default
 * process metrics live in one registry per process (they hook the event loop and GC once). The
 * request path does label lookups through a small cache of prom-client children, so a request
 * costs a Map lookup per metric rather than prom-client's label hashing and validation.
 */
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Usage } from './usage.js';
import type { UsageStoreStats } from './usage-store.js';

type PromClient = typeof import('prom-client');

/** What one finished request contributes. */
export interface RequestSample {
  readonly endpoint: string;
  /** The client-visible model ('' when the request named none that is served). */
  readonly model: string;
  readonly provider: string;
  readonly status: number;
  readonly totalMs: number;
  readonly upstreamMs: number;
  readonly overheadMs: number;
  /** Streams: time to the first chunk. */
  readonly ttfcMs: number | undefined;
  /** Upstream attempts (0: the request never reached the attempt loop). */
  readonly attempts: number;
  readonly usage: Usage | undefined;
}

/** Cooling credentials per provider, computed when scraped. */
export type CoolingCounter = () => ReadonlyMap<string, number>;

let processRegistry: Promise<Registry> | undefined;

async function defaultMetrics(prom: PromClient): Promise<Registry> {
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  return registry;
}

/** Sub-millisecond resolution where the gateway's own time lives; up to minutes for whole requests. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const OVERHEAD_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export class Metrics {
  private readonly requests: Counter<'endpoint' | 'model' | 'provider' | 'status'>;
  private readonly tokens: Counter<'model' | 'direction'>;
  private readonly duration: Histogram;
  private readonly upstream: Histogram;
  private readonly overhead: Histogram;
  private readonly ttfc: Histogram;
  private readonly attempts: Histogram;
  private readonly children = new Map<string, Counter.Internal>();
  private openStreams = 0;
  /** The usage store's figures, read when scraped (set by Observability). */
  usageStats: () => UsageStoreStats | undefined = () => undefined;

  private constructor(
    private readonly prom: PromClient,
    private readonly registry: Registry,
    private readonly processMetrics: Registry,
    cooling: CoolingCounter,
  ) {
    const registers = [registry];
    this.requests = new prom.Counter({
      name: 'cliproxy_requests_total',
      help: 'Requests answered, by endpoint, client-visible model, provider and status (499: the client left first)',
      labelNames: ['endpoint', 'model', 'provider', 'status'],
      registers,
    });
    this.tokens = new prom.Counter({ name: 'cliproxy_tokens_total', help: 'Tokens reported by upstreams', labelNames: ['model', 'direction'], registers });
    this.duration = new prom.Histogram({ name: 'cliproxy_request_duration_seconds', help: 'Whole requests as the client sees them', buckets: DURATION_BUCKETS, registers });
    this.upstream = new prom.Histogram({ name: 'cliproxy_upstream_duration_seconds', help: 'Time spent waiting on upstreams per request', buckets: DURATION_BUCKETS, registers });
    this.overhead = new prom.Histogram({
      name: 'cliproxy_overhead_seconds',
      help: "The gateway's own time per request: elapsed until the response headers, minus upstream wait",
      buckets: OVERHEAD_BUCKETS,
      registers,
    });
    this.ttfc = new prom.Histogram({ name: 'cliproxy_time_to_first_chunk_seconds', help: 'Streams: arrival to the first chunk sent', buckets: DURATION_BUCKETS, registers });
    this.attempts = new prom.Histogram({ name: 'cliproxy_attempts', help: 'Upstream attempts per request', buckets: [1, 2, 3, 4, 5, 8, 13], registers });
    this.usageStoreMetrics(prom, registers);
    const self = this;
    new prom.Gauge({
      name: 'cliproxy_open_streams',
      help: 'Streams being relayed now',
      registers,
      collect() {
        this.set(self.openStreams);
      },
    });
    new prom.Gauge({
      name: 'cliproxy_credentials_cooling',
      help: 'Credentials (key and upstream model) cooling down after failures, by provider',
      labelNames: ['provider'],
      registers,
      collect(this: Gauge<'provider'>) {
        this.reset();
        for (const [provider, n] of cooling()) this.set({ provider }, n);
      },
    });
  }

  /** Usage-store series: records waiting for the database, records dropped, database writable. */
  private usageStoreMetrics(prom: PromClient, registers: Registry[]): void {
    const self = this;
    const read = (fn: (s: UsageStoreStats) => number) =>
      function (this: { reset(): void; inc(value: number): void }) {
        const stats = self.usageStats();
        if (!stats) return;
        this.reset();
        this.inc(fn(stats));
      };
    new prom.Gauge({ name: 'cliproxy_usage_records_buffered', help: 'Usage records waiting in memory for the usage database', registers, collect: read((s) => s.buffered) });
    new prom.Counter({ name: 'cliproxy_usage_records_dropped_total', help: 'Usage records dropped because the buffer was full while the usage database could not be written', registers, collect: read((s) => s.dropped) });
    new prom.Gauge({ name: 'cliproxy_usage_store_up', help: '1 while the usage database takes writes, 0 while records are buffered for it', registers, collect: read((s) => (s.up ? 1 : 0)) });
  }

  static async create(cooling: CoolingCounter): Promise<Metrics> {
    const prom = await import('prom-client');
    processRegistry ??= defaultMetrics(prom);
    return new Metrics(prom, new prom.Registry(), await processRegistry, cooling);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  streamOpened(): void {
    this.openStreams++;
  }

  streamClosed(): void {
    this.openStreams--;
  }

  private counter(s: RequestSample): Counter.Internal {
    const key = `${s.endpoint}\u0000${s.model}\u0000${s.provider}\u0000${s.status}`;
    let child = this.children.get(key);
    if (!child) {
      child = this.requests.labels(s.endpoint, s.model, s.provider, String(s.status));
      this.children.set(key, child);
    }
    return child;
  }

  private tokenCounter(model: string, direction: 'in' | 'out'): Counter.Internal {
    const key = `t\u0000${model}\u0000${direction}`;
    let child = this.children.get(key);
    if (!child) {
      child = this.tokens.labels(model, direction);
      this.children.set(key, child);
    }
    return child;
  }

  record(s: RequestSample): void {
    this.counter(s).inc();
    this.duration.observe(s.totalMs / 1000);
    this.overhead.observe(s.overheadMs / 1000);
    if (s.attempts > 0) {
      this.upstream.observe(s.upstreamMs / 1000);
      this.attempts.observe(s.attempts);
    }
    if (s.ttfcMs !== undefined) this.ttfc.observe(s.ttfcMs / 1000);
    if (s.usage) {
      if (s.usage.input > 0) this.tokenCounter(s.model, 'in').inc(s.usage.input);
      if (s.usage.output > 0) this.tokenCounter(s.model, 'out').inc(s.usage.output);
    }
  }

  /** A gauge whose value is read when scraped (e.g. cliproxy_state_backend_up). */
  addGauge(name: string, help: string, labels: Record<string, string>, value: () => number): void {
    new this.prom.Gauge({
      name,
      help,
      labelNames: Object.keys(labels),
      registers: [this.registry],
      collect(this: Gauge) {
        this.set(labels, value());
      },
    });
  }

  /** The Prometheus text exposition: this gateway's metrics and the process's. */
  async text(): Promise<string> {
    const [own, proc] = await Promise.all([this.registry.metrics(), this.processMetrics.metrics()]);
    return `${own}\n${proc}`;
  }

  /** Drops this gateway's series (the process registry is shared and stays). */
  close(): void {
    this.registry.clear();
  }
}
