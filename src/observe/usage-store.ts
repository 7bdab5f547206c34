/**
 * Durable usage statistics in SQLite (better-sqlite3, loaded only when the feature is on). Records
 * are queued in memory and written in one transaction every FLUSH_MS and on close: the request
 * path never touches the disk, and a graceful restart loses nothing already answered. Queries
 * answer in the shape CLI Proxy API's management API used (`total_requests`, `requests_by_day`,
 * `apis{client: {models{model: {details[]}}}}`), so its dashboards can read it.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { Logger } from './logger.js';

/** One request, as recorded. */
export interface UsageRecord {
  /** Unix milliseconds at arrival. */
  readonly ts: number;
  readonly requestId: string;
  /** The client key, masked (`sk-cli...0001`), or `open` when the proxy has no keys. */
  readonly client: string;
  /** Index of the client key in api-keys; -1 when open. */
  readonly clientIndex: number;
  /** The client-visible model (alias or pool id). */
  readonly model: string;
  readonly upstreamModel: string;
  readonly provider: string;
  /** Index of the upstream credential; -1 when no attempt succeeded. */
  readonly credential: number;
  readonly status: number;
  readonly failed: boolean;
  readonly latencyMs: number;
  /** Time to the first stream chunk (streams only). */
  readonly ttftMs: number | null;
  readonly input: number;
  readonly output: number;
  readonly reasoning: number;
  readonly cached: number;
  readonly total: number;
}

export interface UsageRange {
  /** Unix milliseconds, inclusive. */
  readonly from?: number;
  /** Unix milliseconds, exclusive. */
  readonly to?: number;
}

interface Detail {
  timestamp: string;
  latency_ms: number;
  ttft_ms?: number;
  source: string;
  auth_index: string;
  request_id: string;
  model: string;
  client_index: number;
  status_code: number;
  tokens: { input_tokens: number; output_tokens: number; reasoning_tokens: number; cached_tokens: number; total_tokens: number };
  failed: boolean;
}

interface ModelSnapshot {
  total_requests: number;
  total_tokens: number;
  details: Detail[];
}

export interface UsageSnapshot {
  total_requests: number;
  success_count: number;
  failure_count: number;
  total_tokens: number;
  apis: Record<string, { total_requests: number; total_tokens: number; models: Record<string, ModelSnapshot> }>;
  requests_by_day: Record<string, number>;
  requests_by_hour: Record<string, number>;
  tokens_by_day: Record<string, number>;
  tokens_by_hour: Record<string, number>;
}

export interface ImportResult {
  added: number;
  skipped: number;
}

const FLUSH_MS = 200;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS usage (
  id INTEGER PRIMARY KEY,
  request_id TEXT NOT NULL UNIQUE,
  ts INTEGER NOT NULL,
  client TEXT NOT NULL,
  client_index INTEGER NOT NULL,
  model TEXT NOT NULL,
  upstream_model TEXT NOT NULL,
  provider TEXT NOT NULL,
  credential INTEGER NOT NULL,
  status INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  ttft_ms REAL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  reasoning_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL,
  total_tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_ts ON usage (ts);
`;

const INSERT = `INSERT OR IGNORE INTO usage (request_id, ts, client, client_index, model, upstream_model, provider, credential,
  status, failed, latency_ms, ttft_ms, input_tokens, output_tokens, reasoning_tokens, cached_tokens, total_tokens)
  VALUES (@requestId, @ts, @client, @clientIndex, @model, @upstreamModel, @provider, @credential,
  @status, @failed, @latencyMs, @ttftMs, @input, @output, @reasoning, @cached, @total)`;

const WHERE = 'WHERE ts >= @from AND ts < @to';
/** Days and hours in the server's local time, as CLI Proxy API reported them. */
const DAY = `strftime('%Y-%m-%d', ts / 1000, 'unixepoch', 'localtime')`;
const HOUR = `strftime('%H', ts / 1000, 'unixepoch', 'localtime')`;

interface Row {
  request_id: string;
  ts: number;
  client: string;
  client_index: number;
  model: string;
  upstream_model: string;
  provider: string;
  credential: number;
  status: number;
  failed: number;
  latency_ms: number;
  ttft_ms: number | null;
  input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cached_tokens: number;
  total_tokens: number;
}

function detailOf(r: Row): Detail {
  const d: Detail = {
    timestamp: new Date(r.ts).toISOString(),
    latency_ms: Math.round(r.latency_ms),
    source: r.provider,
    auth_index: r.credential < 0 ? '' : String(r.credential),
    request_id: r.request_id,
    model: r.upstream_model,
    client_index: r.client_index,
    status_code: r.status,
    tokens: {
      input_tokens: r.input_tokens,
      output_tokens: r.output_tokens,
      reasoning_tokens: r.reasoning_tokens,
      cached_tokens: r.cached_tokens,
      total_tokens: r.total_tokens,
    },
    failed: r.failed !== 0,
  };
  if (r.ttft_ms !== null) d.ttft_ms = Math.round(r.ttft_ms);
  return d;
}

const int = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.round(v) : 0);
const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A detail of an exported snapshot (ours or CLI Proxy API's) back into a record. */
function recordOf(client: string, model: string, d: Record<string, unknown>): UsageRecord | undefined {
  const ts = Date.parse(str(d.timestamp));
  if (!Number.isFinite(ts)) return undefined;
  const tokens = isObject(d.tokens) ? d.tokens : {};
  const input = int(tokens.input_tokens);
  const output = int(tokens.output_tokens);
  const reasoning = int(tokens.reasoning_tokens);
  const cached = int(tokens.cached_tokens);
  const total = int(tokens.total_tokens) || input + output + reasoning;
  const failed = d.failed === true;
  const authIndex = Number(str(d.auth_index, '-1') || '-1');
  // CLI Proxy API's exports have no request id: derive a stable one from the fields it used to dedupe.
  const requestId =
    str(d.request_id) ||
    `import-${createHash('sha256')
      .update(JSON.stringify([client, model, d.timestamp, d.source, d.auth_index, failed, input, output, reasoning, cached, total]))
      .digest('hex')
      .slice(0, 32)}`;
  return {
    ts,
    requestId,
    client,
    clientIndex: typeof d.client_index === 'number' ? d.client_index : -1,
    model,
    upstreamModel: str(d.model, model),
    provider: str(d.source),
    credential: Number.isInteger(authIndex) ? authIndex : -1,
    status: typeof d.status_code === 'number' ? d.status_code : failed ? 500 : 200,
    failed,
    latencyMs: int(d.latency_ms),
    ttftMs: typeof d.ttft_ms === 'number' ? d.ttft_ms : null,
    input,
    output,
    reasoning,
    cached,
    total,
  };
}

export class UsageStore {
  private queue: UsageRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly insertMany: (records: readonly UsageRecord[]) => number;

  private constructor(
    private readonly db: BetterSqlite3.Database,
    readonly path: string,
    private readonly log: Logger,
  ) {
    const insert = db.prepare(INSERT);
    this.insertMany = db.transaction((records: readonly UsageRecord[]) => {
      let added = 0;
      for (const r of records) added += insert.run({ ...r, failed: r.failed ? 1 : 0 }).changes;
      return added;
    });
  }

  /** Opens (creating) the database; better-sqlite3 is imported here, so it costs nothing while the feature is off. */
  static async open(path: string, log: Logger): Promise<UsageStore> {
    const { default: Database } = await import('better-sqlite3');
    await mkdir(dirname(path), { recursive: true });
    const db = new Database(path);
    // WAL: readers (management queries) never block the batched writer, and commits are cheap.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(SCHEMA);
    return new UsageStore(db, path, log);
  }

  /** Queues a record; it reaches the disk within FLUSH_MS. */
  record(r: UsageRecord): void {
    if (this.closed) return;
    this.queue.push(r);
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  /** Writes the queue in one transaction. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0 || !this.db.open) return;
    const batch = this.queue;
    this.queue = [];
    try {
      this.insertMany(batch);
    } catch (err) {
      this.log.error({ err, records: batch.length, db: this.path }, 'usage statistics: cannot write to the database');
    }
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }

  private params(range: UsageRange) {
    return { from: range.from ?? 0, to: range.to ?? Number.MAX_SAFE_INTEGER };
  }

  /**
   * Totals by day, hour, client and model. `detailsPerModel` caps the per-request details listed
   * for each client/model (the most recent ones); Infinity lists all (export).
   */
  snapshot(range: UsageRange = {}, detailsPerModel = Infinity): UsageSnapshot {
    this.flush();
    const p = this.params(range);
    const totals = this.db
      .prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(failed), 0) AS f, COALESCE(SUM(total_tokens), 0) AS t FROM usage ${WHERE}`)
      .get(p) as { n: number; f: number; t: number };
    const snap: UsageSnapshot = {
      total_requests: totals.n,
      success_count: totals.n - totals.f,
      failure_count: totals.f,
      total_tokens: totals.t,
      apis: {},
      requests_by_day: {},
      requests_by_hour: {},
      tokens_by_day: {},
      tokens_by_hour: {},
    };
    const grouped = (key: string) =>
      this.db.prepare(`SELECT ${key} AS k, COUNT(*) AS n, SUM(total_tokens) AS t FROM usage ${WHERE} GROUP BY k`).all(p) as Array<{ k: string; n: number; t: number }>;
    for (const { k, n, t } of grouped(DAY)) {
      snap.requests_by_day[k] = n;
      snap.tokens_by_day[k] = t;
    }
    for (const { k, n, t } of grouped(HOUR)) {
      snap.requests_by_hour[k] = n;
      snap.tokens_by_hour[k] = t;
    }
    const groups = this.db
      .prepare(`SELECT client, model, COUNT(*) AS n, SUM(total_tokens) AS t FROM usage ${WHERE} GROUP BY client, model`)
      .all(p) as Array<{ client: string; model: string; n: number; t: number }>;
    for (const g of groups) {
      const api = (snap.apis[g.client] ??= { total_requests: 0, total_tokens: 0, models: {} });
      api.total_requests += g.n;
      api.total_tokens += g.t;
      api.models[g.model] = { total_requests: g.n, total_tokens: g.t, details: [] };
    }
    if (detailsPerModel > 0) {
      const capped = Number.isFinite(detailsPerModel);
      const sql = capped
        ? `SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY client, model ORDER BY ts DESC) AS rn FROM usage ${WHERE}) WHERE rn <= @limit ORDER BY ts, id`
        : `SELECT * FROM usage ${WHERE} ORDER BY ts, id`;
      const rows = this.db.prepare(sql).iterate(capped ? { ...p, limit: detailsPerModel } : p) as IterableIterator<Row>;
      for (const row of rows) snap.apis[row.client]?.models[row.model]?.details.push(detailOf(row));
    }
    return snap;
  }

  /** Merges an exported snapshot; requests already present (same request id) are skipped. */
  import(snapshot: unknown): ImportResult {
    this.flush();
    const apis = isObject(snapshot) && isObject(snapshot.apis) ? snapshot.apis : {};
    const records: UsageRecord[] = [];
    let invalid = 0;
    for (const [client, api] of Object.entries(apis)) {
      const models = isObject(api) && isObject(api.models) ? api.models : {};
      for (const [model, m] of Object.entries(models)) {
        const details = isObject(m) && Array.isArray(m.details) ? m.details : [];
        for (const d of details) {
          const r = isObject(d) ? recordOf(client, model, d) : undefined;
          if (r) records.push(r);
          else invalid++;
        }
      }
    }
    const added = this.insertMany(records);
    return { added, skipped: records.length - added + invalid };
  }
}
