/**
 * Per-credential outcome counts for the Management Center's key health bars (its
 * `/api-key-usage`): totals, and the last 20 ten-minute buckets, as CLI Proxy API keeps them.
 * Fed once per upstream attempt; a bucket is three numbers, so memory stays tiny.
 */
import type { Credential } from '../routing/registry.js';

export const BUCKET_MS = 10 * 60 * 1000;
export const BUCKETS = 20;

export interface RecentBucket {
  /** Start of the bucket, ISO 8601. */
  readonly time: string;
  readonly success: number;
  readonly failed: number;
}

interface Counts {
  success: number;
  failed: number;
  /** Bucket start (ms) → [success, failed]; at most BUCKETS kept. */
  readonly buckets: Map<number, [number, number]>;
}

export class RecentRequests {
  private readonly byCredential = new Map<string, Counts>();

  record(credential: Credential, ok: boolean, now = Date.now()): void {
    let counts = this.byCredential.get(credential.stateKey);
    if (!counts) this.byCredential.set(credential.stateKey, (counts = { success: 0, failed: 0, buckets: new Map() }));
    if (ok) counts.success++;
    else counts.failed++;
    const start = now - (now % BUCKET_MS);
    let bucket = counts.buckets.get(start);
    if (!bucket) {
      counts.buckets.set(start, (bucket = [0, 0]));
      const oldest = start - (BUCKETS - 1) * BUCKET_MS;
      for (const key of counts.buckets.keys()) if (key < oldest) counts.buckets.delete(key);
    }
    bucket[ok ? 0 : 1]++;
  }

  /** Totals and the last BUCKETS buckets, oldest first (empty buckets included). */
  describe(credential: Credential, now = Date.now()): { success: number; failed: number; recent_requests: RecentBucket[] } {
    const counts = this.byCredential.get(credential.stateKey);
    const last = now - (now % BUCKET_MS);
    const recent: RecentBucket[] = [];
    for (let i = BUCKETS - 1; i >= 0; i--) {
      const start = last - i * BUCKET_MS;
      const b = counts?.buckets.get(start);
      recent.push({ time: new Date(start).toISOString(), success: b?.[0] ?? 0, failed: b?.[1] ?? 0 });
    }
    return { success: counts?.success ?? 0, failed: counts?.failed ?? 0, recent_requests: recent };
  }
}
