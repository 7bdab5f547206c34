/**
 * The in-memory backend: one process's state, as cliproxy keeps it without `redis-url`. The redis
 * backend extends it: these tables are its local mirror, read synchronously by the request path.
 */
import { pairKey, type BanPolicy, type Binding, type Bus, type Cooldown, type CredentialCounters, type SharedState } from './types.js';

/** Bound on session bindings (least recently used go first). */
export const MAX_BINDINGS = 100_000;
/** Above this many tracked addresses, stale failure records are dropped. */
const PRUNE_FAILURES_AT = 10_000;

export interface AuthFailures {
  count: number;
  last: number;
  bannedUntil: number;
}

export class MemoryState implements SharedState {
  readonly backend: 'memory' | 'redis' = 'memory';
  readonly bus: Bus | undefined = undefined;
  protected readonly cooldownTable = new Map<string, Cooldown>();
  protected readonly bindings = new Map<string, Binding>();
  protected readonly cursors = new Map<string, number>();
  protected readonly stats = new Map<string, CredentialCounters>();
  protected readonly failures = new Map<string, AuthFailures>();

  async start(): Promise<void> {}

  up(): boolean {
    return true;
  }

  cooldown(cred: string, model: string): Cooldown | undefined {
    return this.cooldownTable.get(pairKey(cred, model));
  }

  get cooldownEntries(): number {
    return this.cooldownTable.size;
  }

  cooldowns(): IterableIterator<Cooldown> {
    return this.cooldownTable.values();
  }

  setCooldown(cooldown: Cooldown): void {
    this.cooldownTable.set(pairKey(cooldown.cred, cooldown.model), cooldown);
  }

  clearCooldown(cred: string, model: string): void {
    this.cooldownTable.delete(pairKey(cred, model));
  }

  binding(key: string, now: number): Binding | undefined {
    const b = this.bindings.get(key);
    if (b === undefined) return undefined;
    if (b.expires > now) return b;
    this.bindings.delete(key);
    return undefined;
  }

  bind(key: string, binding: Binding, now: number): void {
    this.bindings.delete(key); // re-insert: Map order is the LRU order
    this.bindings.set(key, binding);
    if (this.bindings.size > MAX_BINDINGS) this.evictBindings(now);
  }

  private evictBindings(now: number): void {
    for (const [key, b] of this.bindings) if (b.expires <= now) this.bindings.delete(key);
    for (const key of this.bindings.keys()) {
      if (this.bindings.size <= MAX_BINDINGS * 0.9) break;
      this.bindings.delete(key);
    }
  }

  ticket(scope: string): number {
    const at = this.cursors.get(scope) ?? 0;
    this.cursors.set(scope, at + 1);
    return at;
  }

  advance(scope: string, by: number): void {
    if (by > 0) this.cursors.set(scope, (this.cursors.get(scope) ?? 0) + by);
  }

  count(cred: string, ok: boolean, lastError?: string): void {
    let s = this.stats.get(cred);
    if (!s) this.stats.set(cred, (s = { success: 0, failure: 0 }));
    if (ok) s.success++;
    else {
      s.failure++;
      if (lastError !== undefined) s.lastError = lastError;
    }
  }

  async counters(creds: readonly string[]): Promise<Map<string, CredentialCounters>> {
    return this.localCounters(creds);
  }

  protected localCounters(creds: readonly string[]): Map<string, CredentialCounters> {
    const out = new Map<string, CredentialCounters>();
    for (const cred of creds) out.set(cred, { ...(this.stats.get(cred) ?? { success: 0, failure: 0 }) });
    return out;
  }

  bannedUntil(address: string, now: number): number {
    const until = this.failures.get(address)?.bannedUntil ?? 0;
    return until > now ? until : 0;
  }

  async authFailure(address: string, now: number, policy: BanPolicy): Promise<number> {
    return this.localAuthFailure(address, now, policy);
  }

  /** Five failures within banMs of each other ban the address for banMs (CLI Proxy API's rule). */
  protected localAuthFailure(address: string, now: number, policy: BanPolicy): number {
    let record = this.failures.get(address);
    if (!record || now - record.last > policy.banMs) record = { count: 0, last: now, bannedUntil: record?.bannedUntil ?? 0 };
    record.count++;
    record.last = now;
    let banned = 0;
    if (record.count >= policy.maxFailures) {
      record.bannedUntil = banned = now + policy.banMs;
      record.count = 0;
    }
    this.failures.set(address, record);
    if (this.failures.size > PRUNE_FAILURES_AT) {
      for (const [a, r] of this.failures) if (r.bannedUntil <= now && now - r.last > policy.banMs) this.failures.delete(a);
    }
    return banned;
  }

  /** Records a ban decided elsewhere (another instance). */
  protected localBan(address: string, until: number): void {
    const record = this.failures.get(address) ?? { count: 0, last: 0, bannedUntil: 0 };
    record.bannedUntil = Math.max(record.bannedUntil, until);
    record.count = 0;
    this.failures.set(address, record);
  }

  authSuccess(address: string): void {
    this.failures.delete(address);
  }

  retain(live: { creds: ReadonlySet<string>; pairs: ReadonlySet<string>; scopes: ReadonlySet<string> }): void {
    for (const key of this.cursors.keys()) if (!live.scopes.has(key)) this.cursors.delete(key);
    for (const key of this.cooldownTable.keys()) if (!live.pairs.has(key)) this.cooldownTable.delete(key);
    for (const key of this.stats.keys()) if (!live.creds.has(key)) this.stats.delete(key);
    for (const [key, b] of this.bindings) if (!live.creds.has(b.cred)) this.bindings.delete(key);
  }

  async close(): Promise<void> {}
}
