/**
 * Candidate order (priority tiers, strategy, session affinity), cooldowns and per-credential
 * counters. State is keyed by stable strings (pool id, target key, credential state id), so it
 * survives config reloads for everything that still exists. Cooldowns, cursors, counters and
 * session bindings live in a SharedState (state/): this process's memory, or Redis shared by
 * every instance; the balancer only ever reads it synchronously.
 */
import type { Strategy } from '../config/schema.js';
import { MemoryState } from '../state/memory.js';
import { pairKey as statePair, type SharedState } from '../state/types.js';
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

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const RATE_LIMIT_CAP = 30 * MINUTE;
const AUTH_COOLDOWN = 30 * MINUTE;
const NOT_FOUND_COOLDOWN = 12 * 60 * MINUTE;

const pairKey = (target: Target, credential: Credential) => `${target.key}\u0000${credential.stateId}`;

export class Balancer {
  /** Smooth weighted round-robin: per scope (pool tier or member tier), current weight per item. Per instance. */
  private readonly currentWeights = new Map<string, Map<string, number>>();
  readonly affinity: SessionAffinity;
  /** Shared counters fetched for the management API (redis); local ones otherwise. */
  private counters = new Map<string, CredentialStats>();

  constructor(readonly state: SharedState = new MemoryState()) {
    this.affinity = new SessionAffinity(state);
  }

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
      const at = this.smoothWeighted(`m\u0000${member.target.key}\u0000${tier.priority}`, open, (c) => c.weight, (c) => c.stateId);
      return at < 0 ? undefined : open[at];
    }
    const cursorKey = `m\u0000${member.target.key}\u0000${tier.priority}`;
    const start = this.state.ticket(cursorKey);
    for (let j = 0; j < creds.length; j++) {
      const credential = creds[(start + j) % creds.length]!;
      if (!available(credential)) continue;
      // Skipped credentials move the cursor too, so the next pick starts after this one.
      this.state.advance(cursorKey, j);
      return credential;
    }
    return undefined;
  }

  private advance(key: string, modulo: number): number {
    return this.state.ticket(key) % modulo;
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
    if (this.state.cooldownEntries === 0) return false;
    const c = this.state.cooldown(credential.stateId, target.upstreamModel);
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
        const c = this.state.cooldownEntries === 0 ? undefined : this.state.cooldown(credential.stateId, target.upstreamModel);
        if (c && c.until > now && (soonest === undefined || c.until < soonest)) soonest = c.until;
      }
    }
    return soonest;
  }

  /** Counts the failure and cools the credential down for this upstream model (unless disabled). */
  recordFailure(target: Target, credential: Credential, fault: KeyFault, detail: FailureDetail, now = Date.now()): void {
    this.state.count(credential.stateId, false, detail.message);
    if (credential.disableCooling) return;
    const previous = this.state.cooldown(credential.stateId, target.upstreamModel);
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
    this.state.setCooldown({ cred: credential.stateId, model: target.upstreamModel, until: now + duration, reason: fault.kind, status: detail.status, strikes });
  }

  recordSuccess(target: Target, credential: Credential): void {
    this.state.count(credential.stateId, true);
    if (this.state.cooldownEntries > 0 && this.state.cooldown(credential.stateId, target.upstreamModel)) this.state.clearCooldown(credential.stateId, target.upstreamModel);
  }

  /** Fetches the counters `describe` shows (every instance's when the state is shared). */
  async refreshCounters(credentials: readonly Credential[]): Promise<void> {
    this.counters = await this.state.counters(credentials.map((c) => c.stateId));
  }

  /** Counters (as of the last refreshCounters) and live cooldowns of one credential (for the management API). */
  describe(credential: Credential, now = Date.now()): CredentialStats & { cooldowns: CooldownInfo[] } {
    const cooldowns: CooldownInfo[] = [];
    for (const c of this.state.cooldowns()) {
      if (c.cred === credential.stateId && c.until > now) cooldowns.push({ model: c.model, until: c.until, reason: c.reason, status: c.status });
    }
    return { ...(this.counters.get(credential.stateId) ?? { success: 0, failure: 0 }), cooldowns };
  }

  /** Number of (credential, model) pairs cooling now. */
  coolingCount(now = Date.now()): number {
    let n = 0;
    for (const c of this.state.cooldowns()) if (c.until > now) n++;
    return n;
  }

  /** Clears the cooldowns of the credentials `matches` selects (by state id), on every instance; returns what it cleared. */
  resetCooldowns(matches: (stateId: string) => boolean, now = Date.now()): Array<CooldownInfo & { stateId: string }> {
    const cleared: Array<CooldownInfo & { stateId: string }> = [];
    for (const c of [...this.state.cooldowns()]) {
      if (!matches(c.cred)) continue;
      this.state.clearCooldown(c.cred, c.model);
      if (c.until > now) cleared.push({ stateId: c.cred, model: c.model, until: c.until, reason: c.reason, status: c.status });
    }
    return cleared;
  }

  /** Drops state of targets and credentials that no longer exist (after a reload). */
  retain(pools: Iterable<Pool>): void {
    const scopes = new Set<string>();
    const pairs = new Set<string>();
    const creds = new Set<string>();
    for (const pool of pools) {
      for (const tier of pool.tiers) {
        scopes.add(`p\u0000${pool.id.toLowerCase()}\u0000${tier.priority}`);
        for (const m of tier.members) scopes.add(`m\u0000${m.target.key}\u0000${tier.priority}`);
      }
      for (const target of pool.members) {
        for (const credential of target.provider.credentials) {
          pairs.add(statePair(credential.stateId, target.upstreamModel));
          creds.add(credential.stateId);
        }
      }
    }
    for (const scope of this.currentWeights.keys()) if (!scopes.has(scope)) this.currentWeights.delete(scope);
    this.state.retain({ creds, pairs, scopes });
  }
}

/** Weight 0 takes a credential out of weighted-round-robin only. */
const usable = (credential: Credential, strategy: Strategy) => strategy !== 'weighted-round-robin' || credential.weight > 0;
