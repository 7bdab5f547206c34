/**
 * Per-key figures from the usage store, in the shape CLI Proxy API's `api-key-usage` gives each
 * upstream key: successes and failures in all (every instance, when the store is PostgreSQL) and
 * the last 20 ten-minute buckets, oldest first. Keyed by provider name and credential index.
 */
import type { UsageStore } from './usage-store.js';

const BUCKET_MS = 10 * 60 * 1000;
const BUCKETS = 20;

export interface CredentialFigures {
  success: number;
  failed: number;
  recent_requests: Array<{ time: string; success: number; failed: number }>;
}

/** `provider\u0000index`: the key of the map `credentialFigures` answers. */
export const credentialKey = (provider: string, index: number): string => `${provider}\u0000${index}`;

/** Per-key figures of every credential with records; `figuresOf` gives zeros for the others. */
export async function credentialFigures(store: UsageStore, now = Date.now()): Promise<Map<string, CredentialFigures>> {
  const last = now - (now % BUCKET_MS);
  const oldest = last - (BUCKETS - 1) * BUCKET_MS;
  // Totals as one bucket spanning all time; the recent ones at ten minutes.
  const [totals, recent] = await Promise.all([store.credentials({}, Number.MAX_SAFE_INTEGER), store.credentials({ from: oldest }, BUCKET_MS)]);
  const out = new Map<string, CredentialFigures>();
  const figures = (provider: string, credential: number): CredentialFigures => {
    const key = credentialKey(provider, credential);
    let f = out.get(key);
    if (!f) out.set(key, (f = noFigures(now)));
    return f;
  };
  for (const t of totals) {
    if (t.credential < 0) continue; // no credential answered: nobody's figure
    const f = figures(t.provider, t.credential);
    f.success += t.success;
    f.failed += t.failed;
  }
  for (const b of recent) {
    if (b.credential < 0) continue;
    const slot = figures(b.provider, b.credential).recent_requests[Math.floor((b.start - oldest) / BUCKET_MS)];
    if (!slot) continue;
    slot.success += b.success;
    slot.failed += b.failed;
  }
  return out;
}

/** A credential without records: zeros, with the 20 buckets' times. */
export function noFigures(now = Date.now()): CredentialFigures {
  const oldest = now - (now % BUCKET_MS) - (BUCKETS - 1) * BUCKET_MS;
  const recent_requests = Array.from({ length: BUCKETS }, (_, i) => ({ time: new Date(oldest + i * BUCKET_MS).toISOString(), success: 0, failed: 0 }));
  return { success: 0, failed: 0, recent_requests };
}
