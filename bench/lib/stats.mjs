/** Exact percentiles over raw samples (no histogram buckets), and number formatting for the table. */

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** n, mean, p50, p90, p99, p99.9, max of a sample (ms, or whatever unit it is in). */
export function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    n: sorted.length,
    mean: sorted.length ? sum / sorted.length : NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
  };
}

export const median = (values) => summarize(values).p50;

/** Rounds for JSON output (keeps files readable). */
export function round(value, digits = 3) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return value ?? null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Rounds every number in a plain object tree. */
export function roundAll(value, digits = 3) {
  if (typeof value === 'number') return round(value, digits);
  if (Array.isArray(value)) return value.map((v) => roundAll(v, digits));
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = roundAll(v, digits);
    return out;
  }
  return value;
}

/** Fixed decimals, '-' for missing values, explicit sign when asked. */
export function fmt(value, digits = 2, { sign = false } = {}) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '-';
  const text = value.toFixed(digits);
  return sign && value >= 0 ? `+${text}` : text;
}

/** Renders rows as an aligned plain-text table (first column left-aligned, the rest right). */
export function table(header, rows) {
  const all = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}
