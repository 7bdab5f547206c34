/**
 * The redis backend: the memory tables as a local mirror, plus replication. A write updates the
 * mirror, then goes to Redis in one pipeline (the record with its expiry, and an event on the
 * state channel) that nobody awaits; other instances apply the event to their mirrors. Reads stay
 * local, so the request path never waits for Redis, and a Redis outage only stops replication:
 * writes made meanwhile are remembered and pushed when it returns (resync.ts).
 *
 * Round-robin cursors are shared counters: an instance takes a block of BLOCK positions at a time
 * (INCRBY, fetched before the current block runs out, never awaited), so positions are unique
 * across instances and every key gets its share up to the unused part of each instance's block.
 * Weighted round-robin weights stay per instance.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../observe/logger.js';
import { MemoryState } from './memory.js';
import { PREFIX, RedisLink } from './redis-link.js';
import { resync } from './resync.js';
import { pairKey, type BanPolicy, type Binding, type Cooldown, type CredentialCounters } from './types.js';

export const KEYS = {
  cooldown: (pair: string) => `${PREFIX}cd:${pair}`,
  binding: (key: string) => `${PREFIX}aff:${key}`,
  ban: (address: string) => `${PREFIX}ban:${address}`,
  failures: (address: string) => `${PREFIX}authfail:${address}`,
  cursor: (scope: string) => `${PREFIX}rr:${scope}`,
  stats: (cred: string) => `${PREFIX}stats:${cred}`,
};
export const EVENTS = 'state';
const COUNTER_FLUSH_MS = 500;
/** Round-robin positions taken from Redis at a time, and how many left trigger the next fetch. */
const BLOCK = 16;
const REFILL_AT = 8;

/** An instance's round-robin positions of one scope: [next, end) in hand, the next block fetched ahead. */
interface Positions {
  next: number;
  end: number;
  spare: [number, number] | undefined;
  fetching: boolean;
  /** Last position handed out (used to continue when no block is at hand: first pick, Redis away). */
  last: number;
}

/** A binding as mirrored: `shared` is the expiry other instances know of. */
interface MirroredBinding extends Binding {
  readonly shared: number;
}

export type EventBody =
  | { t: 'cd'; c: Cooldown }
  | { t: 'cd-'; cred: string; model: string }
  | { t: 'bind'; k: string; b: Binding }
  | { t: 'ban'; a: string; until: number };
type StateEvent = EventBody & { from: string };

/** Session keys can hold user ids: Redis only ever sees their digest. */
const digest = (text: string) => createHash('sha256').update(text).digest('base64url').slice(0, 24);

export class RedisState extends MemoryState {
  override readonly backend = 'redis' as const;
  readonly link: RedisLink;
  override readonly bus: RedisLink;
  /** Writes Redis has not seen (made while it was down, or whose write failed): `cd|aff|ban \0 key`. */
  readonly dirty = new Set<string>();
  private readonly positions = new Map<string, Positions>();
  /** During a resync: cooldown pairs written meanwhile (the pull must not drop them). */
  touched: Set<string> | undefined;
  private pendingCounts = new Map<string, { success: number; failure: number; lastError?: string }>();
  private counterTimer: NodeJS.Timeout | undefined;

  constructor(url: string, log: Logger) {
    super();
    this.link = this.bus = new RedisLink(url, log);
    this.link.subscribe(EVENTS, (message) => this.onEvent(message));
    this.link.onReady(() => resync(this));
  }

  override async start(): Promise<void> {
    await this.link.start();
  }

  override up(): boolean {
    return this.link.up();
  }

  /** Runs a pipeline nobody waits for; on failure the write is remembered for the resync. */
  private replicate(dirtyKey: string, build: (p: ReturnType<RedisLink['client']['pipeline']>) => void): void {
    if (!this.link.up()) {
      this.dirty.add(dirtyKey);
      return;
    }
    const pipeline = this.link.client.pipeline();
    build(pipeline);
    pipeline.exec().then(
      (results) => {
        if (results?.some(([err]) => err)) this.dirty.add(dirtyKey);
      },
      () => this.dirty.add(dirtyKey),
    );
  }

  /** A state event as published (carries this instance's id, so it ignores its own). */
  event(e: EventBody): string {
    return JSON.stringify({ ...e, from: this.link.instance });
  }

  private onEvent(message: string): void {
    let e: StateEvent;
    try {
      e = JSON.parse(message) as StateEvent;
    } catch {
      return;
    }
    if (e.from === this.link.instance) return;
    if (e.t === 'cd') {
      super.setCooldown(e.c);
      this.touched?.add(pairKey(e.c.cred, e.c.model));
    } else if (e.t === 'cd-') super.clearCooldown(e.cred, e.model);
    else if (e.t === 'bind') super.bind(e.k, { ...e.b, shared: e.b.expires } as MirroredBinding, Date.now());
    else if (e.t === 'ban') this.localBan(e.a, e.until);
  }

  override setCooldown(c: Cooldown): void {
    super.setCooldown(c);
    const pair = pairKey(c.cred, c.model);
    this.touched?.add(pair);
    this.replicate(`cd\u0000${pair}`, (p) => {
      p.set(KEYS.cooldown(pair), JSON.stringify(c), 'PXAT', Math.max(c.until, Date.now() + 1));
      p.publish(PREFIX + EVENTS, this.event({ t: 'cd', c }));
    });
  }

  override clearCooldown(cred: string, model: string): void {
    if (!this.cooldownTable.has(pairKey(cred, model))) return;
    super.clearCooldown(cred, model);
    const pair = pairKey(cred, model);
    this.replicate(`cd\u0000${pair}`, (p) => {
      p.del(KEYS.cooldown(pair));
      p.publish(PREFIX + EVENTS, this.event({ t: 'cd-', cred, model }));
    });
  }

  override binding(key: string, now: number): Binding | undefined {
    return super.binding(digest(key), now);
  }

  /** Publishes a binding when it is new, moved, or when others' copy has used up half its lifetime. */
  override bind(key: string, binding: Binding, now: number): void {
    const k = digest(key);
    const previous = this.bindings.get(k) as MirroredBinding | undefined;
    const ttl = binding.expires - now;
    const fresh = previous !== undefined && previous.target === binding.target && previous.cred === binding.cred && previous.shared - now > ttl / 2;
    super.bind(k, { ...binding, shared: fresh ? previous.shared : binding.expires } as MirroredBinding, now);
    if (fresh) return;
    this.replicate(`aff\u0000${k}`, (p) => {
      p.set(KEYS.binding(k), JSON.stringify(binding), 'PXAT', binding.expires);
      p.publish(PREFIX + EVENTS, this.event({ t: 'bind', k, b: binding }));
    });
  }

  /** Mirror access for the resync (keys are already digests). */
  mirror() {
    return { cooldowns: this.cooldownTable, bindings: this.bindings, failures: this.failures };
  }

  override ticket(scope: string): number {
    let p = this.positions.get(scope);
    if (!p) this.positions.set(scope, (p = { next: 0, end: 0, spare: undefined, fetching: false, last: -1 }));
    if (p.next >= p.end && p.spare) {
      [p.next, p.end] = p.spare;
      p.spare = undefined;
    }
    const at = p.next < p.end ? p.next++ : p.last + 1;
    p.last = at;
    if (p.end - p.next < REFILL_AT && !p.spare && !p.fetching && this.link.up()) this.fetchBlock(scope, p);
    return at;
  }

  private fetchBlock(scope: string, p: Positions): void {
    p.fetching = true;
    this.link.client.incrby(KEYS.cursor(scope), BLOCK).then(
      (end) => {
        p.fetching = false;
        // Positions this instance already handed out while waiting (first picks) are not reused.
        const start = p.last >= end - BLOCK && p.last < end ? p.last + 1 : end - BLOCK;
        if (p.next >= p.end) [p.next, p.end] = [start, end];
        else p.spare = [start, end];
      },
      () => (p.fetching = false),
    );
  }

  override advance(scope: string, by: number): void {
    const p = this.positions.get(scope);
    if (by <= 0 || !p) return;
    p.next = Math.min(p.end, p.next + by);
    p.last += by;
  }

  override count(cred: string, ok: boolean, lastError?: string): void {
    super.count(cred, ok, lastError);
    let p = this.pendingCounts.get(cred);
    if (!p) this.pendingCounts.set(cred, (p = { success: 0, failure: 0 }));
    if (ok) p.success++;
    else {
      p.failure++;
      if (lastError !== undefined) p.lastError = lastError;
    }
    this.counterTimer ??= setTimeout(() => void this.flushCounts(), COUNTER_FLUSH_MS).unref();
  }

  /** Adds the counts made since the last flush to the shared hashes (kept for later when Redis is down). */
  async flushCounts(): Promise<void> {
    clearTimeout(this.counterTimer);
    this.counterTimer = undefined;
    if (this.pendingCounts.size === 0 || !this.link.up()) return;
    const batch = this.pendingCounts;
    this.pendingCounts = new Map();
    const pipeline = this.link.client.pipeline();
    for (const [cred, c] of batch) {
      if (c.success) pipeline.hincrby(KEYS.stats(cred), 'success', c.success);
      if (c.failure) pipeline.hincrby(KEYS.stats(cred), 'failure', c.failure);
      if (c.lastError !== undefined) pipeline.hset(KEYS.stats(cred), 'lastError', c.lastError);
    }
    try {
      const results = await pipeline.exec();
      if (results?.some(([err]) => err)) throw new Error('partial failure');
    } catch {
      // Not written: count them again with the next flush (a partial failure may count some twice).
      for (const [cred, c] of batch) {
        const p = this.pendingCounts.get(cred) ?? { success: 0, failure: 0 };
        this.pendingCounts.set(cred, { success: p.success + c.success, failure: p.failure + c.failure, lastError: p.lastError ?? c.lastError });
      }
    }
  }

  override async counters(creds: readonly string[]): Promise<Map<string, CredentialCounters>> {
    if (!this.link.up()) return this.localCounters(creds);
    try {
      await this.flushCounts();
      const pipeline = this.link.client.pipeline();
      for (const cred of creds) pipeline.hgetall(KEYS.stats(cred));
      const results = (await pipeline.exec()) ?? [];
      const out = new Map<string, CredentialCounters>();
      creds.forEach((cred, i) => {
        const [err, value] = results[i] ?? [new Error('missing')];
        if (err) throw err;
        const h = value as Record<string, string>;
        out.set(cred, { success: Number(h.success ?? 0), failure: Number(h.failure ?? 0), ...(h.lastError ? { lastError: h.lastError } : {}) });
      });
      return out;
    } catch {
      return this.localCounters(creds);
    }
  }

  /** Failures count across instances; the ban reaches every instance through the event channel. */
  override async authFailure(address: string, now: number, policy: BanPolicy): Promise<number> {
    const local = this.localAuthFailure(address, now, policy);
    if (!this.link.up()) {
      if (local) this.dirty.add(`ban\u0000${address}`);
      return local;
    }
    try {
      const [[, n]] = ((await this.link.client.multi().incr(KEYS.failures(address)).pexpire(KEYS.failures(address), policy.banMs).exec()) ?? [[null, 0]]) as [[unknown, number]];
      if (n < policy.maxFailures && !local) return 0;
      const until = local || now + policy.banMs;
      this.localBan(address, until);
      this.replicate(`ban\u0000${address}`, (p) => {
        p.set(KEYS.ban(address), String(until), 'PXAT', until);
        p.del(KEYS.failures(address));
        p.publish(PREFIX + EVENTS, this.event({ t: 'ban', a: address, until }));
      });
      return until;
    } catch {
      if (local) this.dirty.add(`ban\u0000${address}`);
      return local;
    }
  }

  override authSuccess(address: string): void {
    super.authSuccess(address);
    if (this.link.up()) this.link.client.del(KEYS.failures(address)).catch(() => undefined);
  }

  override retain(live: { creds: ReadonlySet<string>; pairs: ReadonlySet<string>; scopes: ReadonlySet<string> }): void {
    super.retain(live);
    for (const scope of this.positions.keys()) if (!live.scopes.has(scope)) this.positions.delete(scope);
  }

  override async close(): Promise<void> {
    await this.flushCounts().catch(() => undefined);
    await this.link.close();
  }
}
