/**
 * The usage store in PostgreSQL (`pg`), shared by every instance that names the same database:
 * each writes its own records (batched: one multi-row INSERT ... SELECT FROM unnest per batch,
 * deduplicated by request id so a retried batch never counts twice), and the management queries
 * read everyone's. The database being away or slow never reaches a request: records wait in the
 * bounded buffer, and every statement has a client-side time limit.
 */
import pg from 'pg';
import type { Pool } from 'pg';
import { UsageBuffer } from './usage-buffer.js';
import { migrate, MIGRATIONS, USAGE_TABLE } from './usage-pg-migrations.js';
import { Retention } from './usage-retention.js';
import { addDetail, buildSnapshot, fromHours, recordsOf, type ClientModelGroup, type HourGroup, type UsageRow } from './usage-snapshot.js';
import type { CredentialBucket, ImportResult, UsageRange, UsageRecord, UsageSnapshot, UsageStore, UsageStoreLimits, UsageStoreOptions, UsageStoreStats } from './usage-store.js';
import { masked } from './usage-store.js';

/** Connecting (TCP + TLS + auth) past this counts as down. */
const CONNECT_TIMEOUT_MS = 3000;
/** A statement past this fails (client side), its connection is discarded, and the batch is retried. */
const QUERY_TIMEOUT_MS = 30_000;
/** Management reads (an export of a long history) may take longer. */
const READ_TIMEOUT_MS = 120_000;
const PRUNE_CHUNK = 10_000;

/** int8 (COUNT, ids, BIGINT columns) and numeric (SUM of BIGINT) as numbers; exact below 2^53. */
const NUMERIC_OIDS = new Set([20, 1700]);
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    NUMERIC_OIDS.has(oid) ? Number : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

const INSERT = `INSERT INTO ${USAGE_TABLE} (request_id, ts, client, client_index, model, upstream_model, provider, credential,
  status, failed, latency_ms, ttft_ms, input_tokens, output_tokens, reasoning_tokens, cached_tokens, total_tokens)
  SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::int4[], $5::text[], $6::text[], $7::text[], $8::int4[],
    $9::int4[], $10::bool[], $11::float8[], $12::float8[], $13::int8[], $14::int8[], $15::int8[], $16::int8[], $17::int8[])
  ON CONFLICT (request_id) DO NOTHING`;

/** Column arrays of a batch, in INSERT's order. */
function columns(batch: readonly UsageRecord[]): unknown[][] {
  const cols: unknown[][] = Array.from({ length: 17 }, () => new Array(batch.length));
  batch.forEach((r, i) => {
    const values = [r.requestId, Math.round(r.ts), r.client, r.clientIndex, r.model, r.upstreamModel, r.provider, r.credential,
      r.status, r.failed, r.latencyMs, r.ttftMs, r.input, r.output, r.reasoning, r.cached, r.total];
    for (let c = 0; c < 17; c++) cols[c]![i] = values[c];
  });
  return cols;
}

const WHERE = 'WHERE ts >= $1 AND ts < $2';
/** Days and hours in the server's local time zone (as SQLite's 'localtime' and CLI Proxy API do). */
const LOCAL = `(to_timestamp(ts / 1000.0) AT TIME ZONE $3)`;
const TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

type Query = (text: string, values: unknown[]) => Promise<unknown[]>;

const bounds = (range: UsageRange): [number, number] => [Math.floor(range.from ?? 0), Math.ceil(range.to ?? Number.MAX_SAFE_INTEGER)];

export class PostgresUsageStore implements UsageStore {
  readonly location: string;
  readonly shared = true;
  private readonly buffer: UsageBuffer;
  private readonly retention: Retention;
  private schema: Promise<void> | undefined;

  private constructor(
    private readonly pool: Pool,
    readonly source: string,
    private readonly options: UsageStoreOptions,
  ) {
    this.location = masked(source);
    this.buffer = new UsageBuffer({ write: (batch) => this.write(batch), log: options.log, location: this.location, maxBuffered: options.maxBuffered });
    this.retention = new Retention((cutoff) => this.prune(cutoff), options.log, this.location);
  }

  /** Returns at once: the schema is migrated in the background, and records buffer until it is. */
  static async open(url: string, options: UsageStoreOptions): Promise<PostgresUsageStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: 4,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'cliproxy',
      types,
    });
    const store = new PostgresUsageStore(pool, url, options);
    // An idle connection that breaks (server restart) is reported here; the next query reconnects.
    pool.on('error', (err) => options.log.debug({ db: store.location, err: { message: err.message } }, 'usage statistics: idle database connection lost'));
    store.ready().then(
      () => store.retention.set(options.retentionDays),
      (err: unknown) => {
        // Not fatal: an outage like any other (logged once, records buffered, retried with backoff).
        store.buffer.markDown(err);
        store.retention.set(options.retentionDays);
      },
    );
    return store;
  }

  /** The schema, migrated once per store (retried on the next call after a failure). */
  private ready(): Promise<void> {
    this.schema ??= migrate(this.pool).then(
      ({ applied, current }) => {
        const known = MIGRATIONS.at(-1)!.version;
        if (applied.length > 0) this.options.log.info({ db: this.location, applied }, 'usage statistics: database schema migrated');
        if (current > known) this.options.log.warn({ db: this.location, current, known }, 'usage statistics: the database schema is newer than this cliproxy knows');
      },
      (err: unknown) => {
        this.schema = undefined;
        throw err;
      },
    );
    return this.schema;
  }

  private async write(batch: readonly UsageRecord[]): Promise<void> {
    await this.ready();
    await this.pool.query(INSERT, columns(batch));
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
    // A statement still hanging keeps its connection until its timeout; shutdown does not wait for it.
    const ended = this.pool.end();
    let deadline: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise<void>((resolve) => (deadline = setTimeout(resolve, 1000)))]);
    clearTimeout(deadline);
  }

  private async prune(cutoff: number): Promise<number> {
    await this.ready();
    let removed = 0;
    // In chunks: one huge DELETE would hold its locks and WAL for the whole history at once.
    for (;;) {
      const res = await this.pool.query(`DELETE FROM ${USAGE_TABLE} WHERE id IN (SELECT id FROM ${USAGE_TABLE} WHERE ts < $1 LIMIT ${PRUNE_CHUNK})`, [cutoff]);
      removed += res.rowCount ?? 0;
      if ((res.rowCount ?? 0) < PRUNE_CHUNK) return removed;
    }
  }

  /** Our own queued records first, so a reader sees what this instance answered (skipped while down: it would only wait). */
  private async beforeRead(): Promise<void> {
    if (this.buffer.stats().up) await this.buffer.flush();
    await this.ready();
  }

  /** Runs `fn` in one read-only snapshot, so totals and groups agree while others write. */
  private async consistent<T>(fn: (query: Query) => Promise<T>): Promise<T> {
    await this.beforeRead();
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const query: Query = async (text, values) => (await client.query({ text, values, query_timeout: READ_TIMEOUT_MS } as pg.QueryConfig)).rows;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const out = await fn(query);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      broken = err as Error;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async snapshot(range: UsageRange = {}, detailsPerModel = Infinity): Promise<UsageSnapshot> {
    await this.retention.idle();
    const p = bounds(range);
    return this.consistent(async (query) => {
      const hourly = (await query(
        `SELECT to_char(${LOCAL}, 'YYYY-MM-DD HH24') AS k, COUNT(*) AS n, COUNT(*) FILTER (WHERE failed) AS f, SUM(total_tokens) AS t FROM ${USAGE_TABLE} ${WHERE} GROUP BY 1`,
        [...p, TIME_ZONE],
      )) as HourGroup[];
      const { totals, days, hours } = fromHours(hourly);
      const groups = (await query(`SELECT client, model, COUNT(*) AS n, SUM(total_tokens) AS t FROM ${USAGE_TABLE} ${WHERE} GROUP BY client, model`, p)) as ClientModelGroup[];
      const snap = buildSnapshot(totals, days, hours, groups);
      if (detailsPerModel <= 0 || groups.length === 0) return snap;
      const rows = Number.isFinite(detailsPerModel)
        ? // The latest n of each client and model, each read off the (client, model, ts) index.
          await query(
            `SELECT u.* FROM unnest($3::text[], $4::text[]) AS g(client, model)
             CROSS JOIN LATERAL (SELECT * FROM ${USAGE_TABLE} x WHERE x.client = g.client AND x.model = g.model AND ts >= $1 AND ts < $2
               ORDER BY ts DESC, id DESC LIMIT $5) u
             ORDER BY u.ts, u.id`,
            [...p, groups.map((g) => g.client), groups.map((g) => g.model), detailsPerModel],
          )
        : await query(`SELECT * FROM ${USAGE_TABLE} ${WHERE} ORDER BY ts, id`, p);
      for (const row of rows as UsageRow[]) addDetail(snap, row);
      return snap;
    });
  }

  async import(snapshot: unknown): Promise<ImportResult> {
    await this.beforeRead();
    const { records, invalid } = recordsOf(snapshot);
    let added = 0;
    for (let i = 0; i < records.length; i += 5000) added += (await this.pool.query(INSERT, columns(records.slice(i, i + 5000)))).rowCount ?? 0;
    await this.retention.run();
    return { added, skipped: records.length - added + invalid };
  }

  async credentials(range: UsageRange, bucketMs: number): Promise<CredentialBucket[]> {
    await this.beforeRead();
    const bucket = Math.max(1, Math.floor(bucketMs));
    const res = await this.pool.query<CredentialBucket>(
      `SELECT provider, credential, (ts / $3::int8) * $3::int8 AS start, COUNT(*) FILTER (WHERE NOT failed) AS success, COUNT(*) FILTER (WHERE failed) AS failed
       FROM ${USAGE_TABLE} ${WHERE} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
      [...bounds(range), bucket],
    );
    return res.rows;
  }
}
