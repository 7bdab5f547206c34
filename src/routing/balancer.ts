/**
 * Round-robin cursors and cooldowns. State is keyed by stable strings (pool id, target key,
 * credential state key), so it survives config reloads for everything that still exists. It is
 * in memory behind this one class, so a shared store could back it later.
 */
import type { Credential, Pool, Target } from './registry.js';

/** Why an attempt failed, as far as the credential is concerned. */
export type KeyFault =
  | { kind: 'rate-limit'; retryAfterMs?: number }
  | { kind: 'auth' } // 401, 402, 403
  | { kind: 'not-found' } // 404
  | { kind: 'transient' }; // 408, 5xx, network, timeouts

export interface Candidate {
  readonly target: Target;
  readonly credential: Credential;
}

interface Cooldown {
  until: number;
  reason: KeyFault['kind'];
  /** Consecutive 429s, for exponential backoff. */
  strikes: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const RATE_LIMIT_CAP = 30 * MINUTE;
const AUTH_COOLDOWN = 30 * MINUTE;
const NOT_FOUND_COOLDOWN = 12 * 60 * MINUTE;
const TRANSIENT_COOLDOWN = MINUTE;

const cooldownKey = (target: Target, credential: Credential) => `${credential.stateKey}\u0000${target.upstreamModel}`;

export class Balancer {
  private readonly cursors = new Map<string, number>();
  private readonly cooldowns = new Map<string, Cooldown>();

  private advance(key: string, modulo: number): number {
    const at = this.cursors.get(key) ?? 0;
    this.cursors.set(key, (at + 1) % modulo);
    return at % modulo;
  }

  /**
   * One round of candidates for a pool: members in round-robin order, and within each member its
   * credentials in round-robin order, skipping cooling ones. Lazy: a cursor moves only when its
   * candidate is actually handed out, so N requests spread evenly.
   */
  *round(pool: Pool, now = Date.now()): Generator<Candidate> {
    const members = pool.members;
    const first = this.advance(`p\u0000${pool.id.toLowerCase()}`, members.length);
    for (let i = 0; i < members.length; i++) {
      const target = members[(first + i) % members.length]!;
      const creds = target.provider.credentials;
      const cursorKey = `m\u0000${target.key}`;
      for (let j = 0; j < creds.length; j++) {
        const start = this.cursors.get(cursorKey) ?? 0;
        const credential = creds[(start + j) % creds.length]!;
        if (this.isCooling(target, credential, now)) continue;
        this.cursors.set(cursorKey, (start + j + 1) % creds.length);
        yield { target, credential };
        // The cursor moved past this credential; the next one of this member is tried only
        // after the other members had their turn.
        break;
      }
    }
    // Second pass: remaining credentials of each member, for failover within a round.
    for (let i = 0; i < members.length; i++) {
      const target = members[(first + i) % members.length]!;
      const creds = target.provider.credentials;
      if (creds.length < 2) continue;
      const start = this.cursors.get(`m\u0000${target.key}`) ?? 0;
      for (let j = 0; j < creds.length - 1; j++) {
        const credential = creds[(start + j) % creds.length]!;
        if (!this.isCooling(target, credential, now)) yield { target, credential };
      }
    }
  }

  isCooling(target: Target, credential: Credential, now = Date.now()): boolean {
    const c = this.cooldowns.get(cooldownKey(target, credential));
    return c !== undefined && c.until > now;
  }

  /** True when some candidate of the pool is not cooling. */
  hasAvailable(pool: Pool, now = Date.now()): boolean {
    return pool.members.some((t) => t.provider.credentials.some((c) => !this.isCooling(t, c, now)));
  }

  /** Earliest time at which a cooling candidate of the pool becomes usable again, if any is cooling. */
  soonestRelease(pool: Pool, now = Date.now()): number | undefined {
    let soonest: number | undefined;
    for (const target of pool.members) {
      for (const credential of target.provider.credentials) {
        const c = this.cooldowns.get(cooldownKey(target, credential));
        if (c && c.until > now && (soonest === undefined || c.until < soonest)) soonest = c.until;
      }
    }
    return soonest;
  }

  /** Cools the credential down for this upstream model; returns when it ends. */
  recordFailure(target: Target, credential: Credential, fault: KeyFault, now = Date.now()): number {
    const key = cooldownKey(target, credential);
    const previous = this.cooldowns.get(key);
    const strikes = fault.kind === 'rate-limit' ? (previous?.reason === 'rate-limit' ? previous.strikes + 1 : 1) : 0;
    let duration: number;
    switch (fault.kind) {
      case 'rate-limit':
        duration = fault.retryAfterMs ?? Math.min(SECOND * 2 ** (strikes - 1), RATE_LIMIT_CAP);
        break;
      case 'auth':
        duration = AUTH_COOLDOWN;
        break;
      case 'not-found':
        duration = NOT_FOUND_COOLDOWN;
        break;
      case 'transient':
        duration = TRANSIENT_COOLDOWN;
        break;
    }
    const until = now + duration;
    this.cooldowns.set(key, { until, reason: fault.kind, strikes });
    return until;
  }

  recordSuccess(target: Target, credential: Credential): void {
    if (this.cooldowns.size > 0) this.cooldowns.delete(cooldownKey(target, credential));
  }

  /** Drops state of targets and credentials that no longer exist (after a reload). */
  retain(pools: Iterable<Pool>): void {
    const live = new Set<string>();
    for (const pool of pools) {
      live.add(`p\u0000${pool.id.toLowerCase()}`);
      for (const target of pool.members) {
        live.add(`m\u0000${target.key}`);
        for (const credential of target.provider.credentials) live.add(cooldownKey(target, credential));
      }
    }
    for (const key of this.cursors.keys()) if (!live.has(key)) this.cursors.delete(key);
    for (const key of this.cooldowns.keys()) if (!live.has(key)) this.cooldowns.delete(key);
  }
}
