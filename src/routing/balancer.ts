/**
 * Candidate order (priority tiers, strategy, session affinity), cooldowns and per-credential
 * counters. State is keyed by stable strings (pool id, target key, credential state key), so it
 * survives config reloads for everything that still exists. It is in memory behind this one
 * class, so a shared store could back it later.
 */
import type { Strategy } from '../config/schema.js';
import { SessionAffinity } from './affinity.js';
import type { Credential, Pool, Target, Tier, TierMember } from './registry.js';

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

export interface RoundOptions {
  readonly strategy: Strategy;
  /** Session id for affinity (set only when session affinity is on). */
  readonly sessionKey?: string;
  readonly now?: number;
}

export interface FailureDetail {
  /** Upstream status, if it answered. */
  readonly status?: number;
  /** Short description for operators (no secrets). */
  readonly message: string;
  /** Cooldown after a transient failure (transient-error-cooldown-seconds). */
  readonly transientCooldownMs: number;
}

export interface CooldownInfo {
  readonly model: string;
  readonly until: number;
  readonly reason: KeyFault['kind'];
  readonly status?: number;
}

export interface CredentialStats {
  success: number;
  failure: number;
  lastError?: string;
}

interface Cooldown extends CooldownInfo {
  readonly stateKey: string;
  /** Consecutive 429s, for exponential backoff. */
  readonly strikes: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const RATE_LIMIT_CAP = 30 * MINUTE;
const AUTH_COOLDOWN = 30 * MINUTE;
const NOT_FOUND_COOLDOWN = 12 * 60 * MINUTE;

const cooldownKey = (target: Target, credential: Credential) => `${credential.stateKey}\u0000${target.upstreamModel}`;
const pairKey = (target: Target, credential: Credential) => `${target.key}\u0000${credential.stateKey}`;

export class Balancer {
  private readonly cursors = new Map<string, number>();
  /** Smooth weighted round-robin: per scope (pool tier or member tier), current weight per item. */
  private readonly currentWeights = new Map<string, Map<string, number>>();
  private readonly cooldowns = new Map<string, Cooldown>();
  private readonly stats = new Map<string, CredentialStats>();
  readonly affinity = new SessionAffinity();

  /**
   * One round of candidates: the session's bound credential first (if any and healthy), then
   * tier by tier from the highest priority. Within a tier, the strategy orders the members and
   * each member's credentials; the first pass offers one credential per member, the second the
   * rest, for failover. Lazy: round-robin cursors move only when a candidate is handed out.
   */
  *round(pool: Pool, options: RoundOptions): Generator<Candidate> {
    const now = options.now ?? Date.now();
    const seen = new Set<string>();
    if (options.sessionKey) {
      const bound = this.affinity.lookup(pool, options.sessionKey, now);
      if (bound && !this.isCooling(bound.target, bound.credential, now)) {
        seen.add(pairKey(bound.target, bound.credential));
        yield bound;
      }
    }
    for (const tier of pool.tiers) {
      const members = this.orderMembers(pool, tier, options.strategy);
      for (const member of members) {
        const credential = this.pickCredential(member, tier, options.strategy, now, seen);
        if (!credential) continue;
        seen.add(pairKey(member.target, credential));
        yield { target: member.target, credential };
      }
      for (const member of members) {
        for (const credential of member.credentials) {
          const key = pairKey(member.target, credential);
          if (seen.has(key) || this.isCooling(member.target, credential, now) || !usable(credential, options.strategy)) continue;
          seen.add(key);
          yield { target: member.target, credential };
        }
      }
    }
  }

  private orderMembers(pool: Pool, tier: Tier, strategy: Strategy): readonly TierMember[] {
    const members = strategy === 'weighted-round-robin' ? tier.members.filter((m) => m.target.weight > 0) : tier.members;
    if (members.length < 2 || strategy === 'fill-first') return members;
    const scope = `p\u0000${pool.id.toLowerCase()}\u0000${tier.priority}`;
    let first: number;
    if (strategy === 'round-robin') {
      first = this.advance(scope, members.length);
    } else {
      first = this.smoothWeighted(scope, members, (m) => m.target.weight, (m) => m.target.key);
      if (first < 0) return members;
    }
    return first === 0 ? members : [...members.slice(first), ...members.slice(0, first)];
  }

  private pickCredential(member: TierMember, tier: Tier, strategy: Strategy, now: number, seen: Set<string>): Credential | undefined {
    const creds = member.credentials;
    const available = (c: Credential) => !seen.has(pairKey(member.target, c)) && !this.isCooling(member.target, c, now) && usable(c, strategy);
    if (strategy === 'fill-first') return creds.find(available);
    if (strategy === 'weighted-round-robin') {
      const open = creds.filter(available);
      const at = this.smoothWeighted(`m\u0000${member.target.key}\u0000${tier.priority}`, open, (c) => c.weight, (c) => c.stateKey);
      return at < 0 ? undefined : open[at];
    }
    const cursorKey = `m\u0000${member.target.key}\u0000${tier.priority}`;
    const start = this.cursors.get(cursorKey) ?? 0;
    for (let j = 0; j < creds.length; j++) {
      const credential = creds[(start + j) % creds.length]!;
      if (!available(credential)) continue;
      this.cursors.set(cursorKey, (start + j + 1) % creds.length);
      return credential;
    }
    return undefined;
  }

  private advance(key: string, modulo: number): number {
    const at = this.cursors.get(key) ?? 0;
    this.cursors.set(key, (at + 1) % modulo);
    return at % modulo;
  }

  /** nginx's smooth weighted round-robin: returns the index picked, -1 if all weights are 0. */
  private smoothWeighted<T>(scope: string, items: readonly T[], weightOf: (item: T) => number, keyOf: (item: T) => string): number {
    let weights = this.currentWeights.get(scope);
    if (!weights) this.currentWeights.set(scope, (weights = new Map()));
    let total = 0;
    let best = -1;
    let bestWeight = -Infinity;
    for (let i = 0; i < items.length; i++) {
      const w = weightOf(items[i]!);
      if (w <= 0) continue;
      const key = keyOf(items[i]!);
      const current = (weights.get(key) ?? 0) + w;
      weights.set(key, current);
      total += w;
      if (current > bestWeight) {
        bestWeight = current;
        best = i;
      }
    }
    if (best >= 0) weights.set(keyOf(items[best]!), bestWeight - total);
    return best;
  }

  isCooling(target: Target, credential: Credential, now = Date.now()): boolean {
    if (this.cooldowns.size === 0) return false;
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

  /** Counts the failure and cools the credential down for this upstream model (unless disabled). */
  recordFailure(target: Target, credential: Credential, fault: KeyFault, detail: FailureDetail, now = Date.now()): void {
    const stats = this.statsOf(credential);
    stats.failure++;
    stats.lastError = detail.message;
    if (credential.disableCooling) return;
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
        duration = detail.transientCooldownMs;
        break;
    }
    if (duration <= 0) return;
    this.cooldowns.set(key, { stateKey: credential.stateKey, model: target.upstreamModel, until: now + duration, reason: fault.kind, status: detail.status, strikes });
  }

  recordSuccess(target: Target, credential: Credential): void {
    this.statsOf(credential).success++;
    if (this.cooldowns.size > 0) this.cooldowns.delete(cooldownKey(target, credential));
  }

  private statsOf(credential: Credential): CredentialStats {
    let s = this.stats.get(credential.stateKey);
    if (!s) this.stats.set(credential.stateKey, (s = { success: 0, failure: 0 }));
    return s;
  }

  /** Counters and live cooldowns of one credential (for the management API). */
  describe(credential: Credential, now = Date.now()): CredentialStats & { cooldowns: CooldownInfo[] } {
    const cooldowns: CooldownInfo[] = [];
    for (const c of this.cooldowns.values()) {
      if (c.stateKey === credential.stateKey && c.until > now) cooldowns.push({ model: c.model, until: c.until, reason: c.reason, status: c.status });
    }
    return { ...(this.stats.get(credential.stateKey) ?? { success: 0, failure: 0 }), cooldowns };
  }

  /** Number of (credential, model) pairs cooling now. */
  coolingCount(now = Date.now()): number {
    let n = 0;
    for (const c of this.cooldowns.values()) if (c.until > now) n++;
    return n;
  }

  /** Clears the cooldowns of the credentials `matches` selects; returns what it cleared. */
  resetCooldowns(matches: (stateKey: string) => boolean, now = Date.now()): Array<CooldownInfo & { stateKey: string }> {
    const cleared: Array<CooldownInfo & { stateKey: string }> = [];
    for (const [key, c] of this.cooldowns) {
      if (!matches(c.stateKey)) continue;
      this.cooldowns.delete(key);
      if (c.until > now) cleared.push({ stateKey: c.stateKey, model: c.model, until: c.until, reason: c.reason, status: c.status });
    }
    return cleared;
  }

  /** Drops state of targets and credentials that no longer exist (after a reload). */
  retain(pools: Iterable<Pool>): void {
    const live = new Set<string>();
    const liveCreds = new Set<string>();
    for (const pool of pools) {
      for (const tier of pool.tiers) {
        live.add(`p\u0000${pool.id.toLowerCase()}\u0000${tier.priority}`);
        for (const m of tier.members) live.add(`m\u0000${m.target.key}\u0000${tier.priority}`);
      }
      for (const target of pool.members) {
        for (const credential of target.provider.credentials) {
          live.add(cooldownKey(target, credential));
          liveCreds.add(credential.stateKey);
        }
      }
    }
    for (const key of this.cursors.keys()) if (!live.has(key)) this.cursors.delete(key);
    for (const key of this.cooldowns.keys()) if (!live.has(key)) this.cooldowns.delete(key);
    for (const key of this.stats.keys()) if (!liveCreds.has(key)) this.stats.delete(key);
    for (const scope of this.currentWeights.keys()) if (!live.has(scope)) this.currentWeights.delete(scope);
    this.affinity.retain(liveCreds);
  }
}

/** Weight 0 takes a credential out of weighted-round-robin only. */
const usable = (credential: Credential, strategy: Strategy) => strategy !== 'weighted-round-robin' || credential.weight > 0;
