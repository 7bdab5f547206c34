/**
 * The usage store: where per-request usage records go, and what the management API reads
 * (`/v0/management/usage`, its export and import, per-key figures). Two backends behind one
 * interface: SQLite (default, a file beside config.yaml) and PostgreSQL (`usage-db:
 * postgres://...` or USAGE_DB_URL), which several instances share. Both queue records in memory
 * and write them in batches, so the request path never waits for a disk or a network.
 */
import { dirname, resolve } from 'node:path';
import type { Logger } from './logger.js';
import { maskProxyUrl } from './logger.js';

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

export interface Detail {
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

export interface ModelSnapshot {
  total_requests: number;
  total_tokens: number;
  details: Detail[];
}

/** The shape CLI Proxy API's management API used, so that its dashboards read ours. */
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

/** Requests of one upstream credential in one time bucket (per-key figures, as `api-key-usage` shows). */
export interface CredentialBucket {
  readonly provider: string;
  /** Index of the credential in its provider; -1 for requests no credential answered. */
  readonly credential: number;
  /** Unix milliseconds at the bucket's start. */
  readonly start: number;
  readonly success: number;
  readonly failed: number;
}

/** What /metrics shows about the store. */
export interface UsageStoreStats {
  /** Records waiting in memory to be written. */
  readonly buffered: number;
  /** Records dropped because the buffer was full (since this store opened). */
  readonly dropped: number;
  /** False while the database cannot be written. */
  readonly up: boolean;
}

export interface UsageStoreLimits {
  /** Records older than this many days are deleted (at start, then hourly); 0 keeps everything. */
  readonly retentionDays: number;
  /** Most records held in memory while the database is away; more are dropped and counted. */
  readonly maxBuffered: number;
}

export interface UsageStore {
  /** The configured location (a file path or a URL, secrets included): tells when the config points elsewhere. */
  readonly source: string;
  /** The location for logs and answers: the path, or the URL with its password masked. */
  readonly location: string;
  /** True when every instance reads and writes this same store (PostgreSQL): its figures are already the cluster's. */
  readonly shared: boolean;
  /** Queues a record; never waits and never throws. */
  record(r: UsageRecord): void;
  /**
   * Totals by day, hour, client and model. `detailsPerModel` caps the per-request details listed
   * for each client/model (the most recent ones); Infinity lists all (export).
   */
  snapshot(range?: UsageRange, detailsPerModel?: number): Promise<UsageSnapshot>;
  /** Merges an exported snapshot; requests already present (same request id) are skipped. */
  import(snapshot: unknown): Promise<ImportResult>;
  /** Successes and failures per provider, credential and `bucketMs` time bucket, in `range`. */
  credentials(range: UsageRange, bucketMs: number): Promise<CredentialBucket[]>;
  setLimits(limits: UsageStoreLimits): void;
  stats(): UsageStoreStats;
  /** Writes what is queued (bounded wait when the database is away), then closes. */
  close(): Promise<void>;
}

export interface UsageStoreOptions extends UsageStoreLimits {
  readonly log: Logger;
}

/** Env var naming the usage database; it wins over `usage-db` (keeps a password out of config.yaml). */
export const USAGE_DB_ENV = 'USAGE_DB_URL';

export const isPostgresUrl = (location: string): boolean => /^postgres(ql)?:\/\//i.test(location);

/**
 * Where usage goes: USAGE_DB_URL, else `usage-db`, else usage.db; a file path is taken relative to
 * the directory of config.yaml.
 */
export function usageLocation(usageDb: string | undefined, configPath: string | undefined): string {
  const configured = process.env[USAGE_DB_ENV]?.trim() || usageDb || 'usage.db';
  if (isPostgresUrl(configured)) return configured;
  return resolve(configPath ? dirname(configPath) : process.cwd(), configured);
}

/** Opens the backend the location names; the driver is imported here, so an unused one costs nothing. */
export async function openUsageStore(location: string, options: UsageStoreOptions): Promise<UsageStore> {
  if (isPostgresUrl(location)) {
    const { PostgresUsageStore } = await import('./usage-store-postgres.js');
    return PostgresUsageStore.open(location, options);
  }
  const { SqliteUsageStore } = await import('./usage-store-sqlite.js');
  return SqliteUsageStore.open(location, options);
}

/** The limits a config sets. */
export const usageLimits = (config: { readonly 'usage-retention-days': number; readonly 'usage-buffer-max-records': number }): UsageStoreLimits => ({
  retentionDays: config['usage-retention-days'],
  maxBuffered: config['usage-buffer-max-records'],
});

/** A URL without its password, for logs. */
export const masked = (location: string): string => (isPostgresUrl(location) ? (maskProxyUrl(location) ?? location) : location);
