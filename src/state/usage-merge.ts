/**
 * Adds usage snapshots of several instances into one, in the same shape (CLI Proxy API's):
 * totals, per-day and per-hour figures and per client/model totals are summed; per-request
 * details are put together in time order, keeping the most recent `detailsPerModel` per model.
 */
import type { UsageSnapshot } from '../observe/usage-store.js';

type Detail = UsageSnapshot['apis'][string]['models'][string]['details'][number];

function addCounts(into: Record<string, number>, from: Record<string, number> | undefined): void {
  for (const [k, n] of Object.entries(from ?? {})) into[k] = (into[k] ?? 0) + n;
}

export function mergeUsage(snapshots: readonly UsageSnapshot[], detailsPerModel = Infinity): UsageSnapshot {
  const out: UsageSnapshot = {
    total_requests: 0,
    success_count: 0,
    failure_count: 0,
    total_tokens: 0,
    apis: {},
    requests_by_day: {},
    requests_by_hour: {},
    tokens_by_day: {},
    tokens_by_hour: {},
  };
  for (const s of snapshots) {
    out.total_requests += s.total_requests;
    out.success_count += s.success_count;
    out.failure_count += s.failure_count;
    out.total_tokens += s.total_tokens;
    addCounts(out.requests_by_day, s.requests_by_day);
    addCounts(out.requests_by_hour, s.requests_by_hour);
    addCounts(out.tokens_by_day, s.tokens_by_day);
    addCounts(out.tokens_by_hour, s.tokens_by_hour);
    for (const [client, api] of Object.entries(s.apis ?? {})) {
      const into = (out.apis[client] ??= { total_requests: 0, total_tokens: 0, models: {} });
      into.total_requests += api.total_requests;
      into.total_tokens += api.total_tokens;
      for (const [model, m] of Object.entries(api.models ?? {})) {
        const target = (into.models[model] ??= { total_requests: 0, total_tokens: 0, details: [] });
        target.total_requests += m.total_requests;
        target.total_tokens += m.total_tokens;
        for (const d of m.details ?? []) target.details.push(d);
      }
    }
  }
  if (snapshots.length > 1) {
    for (const api of Object.values(out.apis)) {
      for (const m of Object.values(api.models)) {
        m.details.sort((a: Detail, b: Detail) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
        if (m.details.length > detailsPerModel) m.details = m.details.slice(m.details.length - detailsPerModel);
      }
    }
  }
  return out;
}
