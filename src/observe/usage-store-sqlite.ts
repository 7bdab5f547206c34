/**
 * The default usage store: one SQLite file (better-sqlite3, loaded only when the feature is on).
 * Records reach it through the shared buffer, one transaction per batch; WAL mode lets the
 * management queries read while the writer commits.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { UsageBuffer } from './usage-buffer.js';
import { Retention } from './usage-retention.js';
import { addDetail, buildSnapshot, fromHours, recordsOf, type ClientModelGroup, type HourGroup, type UsageRow } from './usage-snapshot.js';
import type { CredentialBucket, ImportResult, UsageRange, UsageRecord, UsageSnapshot, UsageStore, UsageStoreLimits, UsageStoreOptions, UsageStoreStats } from './usage-store.js';

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
/** Local hours (`YYYY-MM-DD HH`, the server's time zone, as CLI Proxy API reported days and hours). */
const HOUR = `strftime('%Y-%m-%d %H', ts / 1000, 'unixepoch', 'localtime')`;

const params = (range: UsageRange) => ({ from: range.from ?? 0, to: range.to ?? Number.MAX_SAFE_INTEGER });

export class SqliteUsageStore implements UsageStore {
  readonly shared = false;
  private readonly buffer: UsageBuffer;
  private readonly retention: Retention;
  private readonly insertMany: (records: readonly UsageRecord[]) => number;

  private constructor(
    private readonly db: BetterSqlite3.Database,
    readonly source: string,
    options: UsageStoreOptions,
  ) {
    const insert = db.prepare(INSERT);
    this.insertMany = db.transaction((records: readonly UsageRecord[]) => {
      let added = 0;
      for (const r of records) added += insert.run({ ...r, failed: r.failed ? 1 : 0 }).changes;
      return added;
    });
    this.buffer = new UsageBuffer({ write: async (batch) => void this.insertMany(batch), log: options.log, location: source, maxBuffered: options.maxBuffered });
    const prune = db.prepare('DELETE FROM usage WHERE ts < ?');
    this.retention = new Retention(async (cutoff) => prune.run(cutoff).changes, options.log, source);
    this.retention.set(options.retentionDays);
  }

  get location(): string {
    return this.source;
  }

  /** Opens (creating) the database file. */
  static async open(path: string, options: UsageStoreOptions): Promise<SqliteUsageStore> {
    const { default: Database } = await import('better-sqlite3');
    await mkdir(dirname(path), { recursive: true });
    const db = new Database(path);
    // WAL: readers (management queries) never block the batched writer, and commits are cheap.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(SCHEMA);
    return new SqliteUsageStore(db, path, options);
  }

  record(r: UsageRecord): void {
    this.buffer.push(r);
  }

  setLimits(limits: UsageStoreLimits): void {
    this.buffer.maxBuffered = limits.maxBuffered;
    this.retention.set(limits.retentionDays);
  }

  stats(): UsageStoreStats {
    return this.buffer.stats();
  }

  async close(): Promise<void> {
    this.retention.stop();
    await this.buffer.close();
    if (this.db.open) this.db.close();
  }

  async snapshot(range: UsageRange = {}, detailsPerModel = Infinity): Promise<UsageSnapshot> {
    await this.buffer.flush();
    await this.retention.idle();
    const p = params(range);
    const hourly = this.db.prepare(`SELECT ${HOUR} AS k, COUNT(*) AS n, SUM(failed) AS f, SUM(total_tokens) AS t FROM usage ${WHERE} GROUP BY k`).all(p) as HourGroup[];
    const { totals, days, hours } = fromHours(hourly);
    const groups = this.db.prepare(`SELECT client, model, COUNT(*) AS n, SUM(total_tokens) AS t FROM usage ${WHERE} GROUP BY client, model`).all(p) as ClientModelGroup[];
    const snap = buildSnapshot(totals, days, hours, groups);
    if (detailsPerModel > 0) {
      const capped = Number.isFinite(detailsPerModel);
      const sql = capped
        ? `SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY client, model ORDER BY ts DESC) AS rn FROM usage ${WHERE}) WHERE rn <= @limit ORDER BY ts, id`
        : `SELECT * FROM usage ${WHERE} ORDER BY ts, id`;
      const rows = this.db.prepare(sql).iterate(capped ? { ...p, limit: detailsPerModel } : p) as IterableIterator<UsageRow>;
      for (const row of rows) addDetail(snap, row);
    }
    return snap;
  }

  async import(snapshot: unknown): Promise<ImportResult> {
    await this.buffer.flush();
    const { records, invalid } = recordsOf(snapshot);
    const added = this.insertMany(records);
    await this.retention.run();
    return { added, skipped: records.length - added + invalid };
  }

  async credentials(range: UsageRange, bucketMs: number): Promise<CredentialBucket[]> {
    await this.buffer.flush();
    const rows = this.db
      .prepare(
        `SELECT provider, credential, (ts / @bucket) * @bucket AS start, SUM(failed = 0) AS success, SUM(failed) AS failed
         FROM usage ${WHERE} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
      )
      .all({ ...params(range), bucket: Math.max(1, Math.floor(bucketMs)) }) as CredentialBucket[];
    return rows;
  }
}
