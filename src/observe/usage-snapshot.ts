/**
 * What both usage backends share: the snapshot built from their query results, and records read
 * back from an export (ours or CLI Proxy API's). The backends differ only in SQL.
 */
import { createHash } from 'node:crypto';
import type { Detail, UsageRecord, UsageSnapshot } from './usage-store.js';

/** One stored request as a backend returns it (SQLite stores `failed` as 0/1). */
export interface UsageRow {
  request_id: string;
  ts: number;
  client: string;
  client_index: number;
  model: string;
  upstream_model: string;
  provider: string;
  credential: number;
  status: number;
  failed: number | boolean;
  latency_ms: number;
  ttft_ms: number | null;
  input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cached_tokens: number;
  total_tokens: number;
}

/** A count and a token sum under a key (a day, an hour). */
export interface Group {
  k: string;
  n: number;
  t: number;
}

/** A count and a token sum per client and model. */
export interface ClientModelGroup {
  client: string;
  model: string;
  n: number;
  t: number;
}

/** Requests, failures and tokens in one local hour, keyed `YYYY-MM-DD HH`. */
export interface HourGroup {
  k: string;
  n: number;
  f: number;
  t: number;
}

/** Totals, days and hours from one scan grouped by local hour (instead of three scans). */
export function fromHours(rows: readonly HourGroup[]): { totals: { n: number; f: number; t: number }; days: Group[]; hours: Group[] } {
  const totals = { n: 0, f: 0, t: 0 };
  const days = new Map<string, Group>();
  const hours = new Map<string, Group>();
  const add = (map: Map<string, Group>, k: string, n: number, t: number) => {
    const g = map.get(k);
    if (g) {
      g.n += n;
      g.t += t;
    } else map.set(k, { k, n, t });
  };
  for (const r of rows) {
    totals.n += r.n;
    totals.f += r.f;
    totals.t += r.t;
    add(days, r.k.slice(0, 10), r.n, r.t);
    add(hours, r.k.slice(11, 13), r.n, r.t);
  }
  return { totals, days: [...days.values()], hours: [...hours.values()] };
}

/** The aggregate part of a snapshot; details are added with `addDetail`. */
export function buildSnapshot(totals: { n: number; f: number; t: number }, days: Group[], hours: Group[], groups: ClientModelGroup[]): UsageSnapshot {
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
  for (const { k, n, t } of days) {
    snap.requests_by_day[k] = n;
    snap.tokens_by_day[k] = t;
  }
  for (const { k, n, t } of hours) {
    snap.requests_by_hour[k] = n;
    snap.tokens_by_hour[k] = t;
  }
  for (const g of groups) {
    const api = (snap.apis[g.client] ??= { total_requests: 0, total_tokens: 0, models: {} });
    api.total_requests += g.n;
    api.total_tokens += g.t;
    api.models[g.model] = { total_requests: g.n, total_tokens: g.t, details: [] };
  }
  return snap;
}

export function addDetail(snap: UsageSnapshot, row: UsageRow): void {
  snap.apis[row.client]?.models[row.model]?.details.push(detailOf(row));
}

function detailOf(r: UsageRow): Detail {
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
    failed: r.failed === true || r.failed === 1,
  };
  if (r.ttft_ms !== null) d.ttft_ms = Math.round(r.ttft_ms);
  return d;
}

const int = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.min(Math.round(v), Number.MAX_SAFE_INTEGER) : 0);
/** An index (-1: none); anything else an export may hold becomes -1, so every backend can store it. */
const index = (v: unknown): number => (typeof v === 'number' && Number.isInteger(v) && v >= -1 && v < 2 ** 31 ? v : -1);
/** NUL cannot be stored in a PostgreSQL text column. */
const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v.replaceAll('\u0000', '') : fallback);
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
  const status = typeof d.status_code === 'number' && Number.isInteger(d.status_code) && d.status_code >= 100 && d.status_code <= 999 ? d.status_code : failed ? 500 : 200;
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
    clientIndex: index(d.client_index),
    model,
    upstreamModel: str(d.model, model),
    provider: str(d.source),
    credential: index(Number(str(d.auth_index, '-1') || '-1')),
    status,
    failed,
    latencyMs: int(d.latency_ms),
    ttftMs: typeof d.ttft_ms === 'number' && Number.isFinite(d.ttft_ms) ? d.ttft_ms : null,
    input,
    output,
    reasoning,
    cached,
    total,
  };
}

/** The records of an exported snapshot, and how many details could not be read. */
export function recordsOf(snapshot: unknown): { records: UsageRecord[]; invalid: number } {
  const apis = isObject(snapshot) && isObject(snapshot.apis) ? snapshot.apis : {};
  const records: UsageRecord[] = [];
  let invalid = 0;
  for (const [rawClient, api] of Object.entries(apis)) {
    const client = str(rawClient);
    const models = isObject(api) && isObject(api.models) ? api.models : {};
    for (const [rawModel, m] of Object.entries(models)) {
      const model = str(rawModel);
      const details = isObject(m) && Array.isArray(m.details) ? m.details : [];
      for (const d of details) {
        const r = isObject(d) ? recordOf(client, model, d) : undefined;
        if (r) records.push(r);
        else invalid++;
      }
    }
  }
  return { records, invalid };
}
