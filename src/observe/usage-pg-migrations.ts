/**
 * The PostgreSQL usage schema, as numbered migrations that cliproxy applies at start. Each runs in
 * its own transaction and is recorded in `cliproxy_migrations`; the whole pass holds a session
 * advisory lock, so instances starting together apply each migration once (the others wait, then
 * find nothing left to do). Never edit a released migration: add the next number.
 */
import type { Pool, PoolClient } from 'pg';

interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const USAGE_TABLE = 'cliproxy_usage';
export const MIGRATIONS_TABLE = 'cliproxy_migrations';
/** pg_advisory_lock key: "cliproxy" usage schema (any constant unlikely to clash with others' keys). */
const LOCK_KEY = '7161830285637021281';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'usage records',
    sql: `
      CREATE TABLE ${USAGE_TABLE} (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        request_id TEXT NOT NULL,
        ts BIGINT NOT NULL,
        client TEXT NOT NULL,
        client_index INTEGER NOT NULL,
        model TEXT NOT NULL,
        upstream_model TEXT NOT NULL,
        provider TEXT NOT NULL,
        credential INTEGER NOT NULL,
        status INTEGER NOT NULL,
        failed BOOLEAN NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL,
        ttft_ms DOUBLE PRECISION,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        reasoning_tokens BIGINT NOT NULL,
        cached_tokens BIGINT NOT NULL,
        total_tokens BIGINT NOT NULL,
        CONSTRAINT ${USAGE_TABLE}_request_id_key UNIQUE (request_id)
      );
      -- Every management query filters on a time range; retention deletes by it.
      CREATE INDEX ${USAGE_TABLE}_ts ON ${USAGE_TABLE} (ts);`,
  },
  {
    version: 2,
    name: 'indexes for the management queries',
    sql: `
      -- GET usage lists the latest details of each client and model (LATERAL ... ORDER BY ts DESC LIMIT n).
      CREATE INDEX ${USAGE_TABLE}_client_model_ts ON ${USAGE_TABLE} (client, model, ts DESC);
      -- Per-key figures: successes and failures per provider credential over time.
      CREATE INDEX ${USAGE_TABLE}_provider_credential_ts ON ${USAGE_TABLE} (provider, credential, ts);`,
  },
];

export interface MigrationResult {
  /** Versions this call applied (empty when another instance, or an earlier start, did). */
  readonly applied: number[];
  /** The newest version in the database (higher than ours after a newer cliproxy ran). */
  readonly current: number;
}

async function apply(client: PoolClient): Promise<MigrationResult> {
  // Looked up first: CREATE ... IF NOT EXISTS needs the CREATE privilege even when the table exists,
  // and a database user set up by a DBA (tables created, then only read/write granted) may lack it.
  const found = await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [MIGRATIONS_TABLE]);
  if (!found.rows[0]!.present) {
    await client.query(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`);
  }
  const done = new Set((await client.query<{ version: number }>(`SELECT version FROM ${MIGRATIONS_TABLE}`)).rows.map((r) => r.version));
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    await client.query('BEGIN');
    try {
      await client.query(m.sql);
      await client.query(`INSERT INTO ${MIGRATIONS_TABLE} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    applied.push(m.version);
    done.add(m.version);
  }
  return { applied, current: Math.max(0, ...done) };
}

/** Brings the schema up to date; safe to call from any number of instances at once. */
export async function migrate(pool: Pool): Promise<MigrationResult> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    // Blocks while another instance migrates; released on unlock or when this session ends.
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    try {
      return await apply(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
    }
  } catch (err) {
    broken = err as Error;
    throw err;
  } finally {
    // A failed session (timeout, lost connection) is discarded rather than reused with a lock held.
    client.release(broken);
  }
}
