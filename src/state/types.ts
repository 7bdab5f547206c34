/**
 * The runtime state that several cliproxy instances share when `redis-url` is set: cooldowns,
 * session-affinity bindings, round-robin cursors, per-credential counters and management bans.
 * Every read the request path makes is local and synchronous (a Map lookup); a backend that
 * shares state mirrors it locally and replicates writes in the background, so sharing never adds
 * a round trip a request waits for.
 */

export type CooldownReason = 'rate-limit' | 'auth' | 'not-found' | 'transient';

/** One (credential, upstream model) pair cooling down. */
export interface Cooldown {
  /** Credential state id (a digest: never the key itself). */
  readonly cred: string;
  readonly model: string;
  /** Unix ms at which it may be used again. */
  readonly until: number;
  readonly reason: CooldownReason;
  readonly status?: number;
  /** Consecutive 429s, for exponential backoff. */
  readonly strikes: number;
}

/** A session's credential. */
export interface Binding {
  readonly target: string;
  readonly cred: string;
  /** Unix ms. */
  readonly expires: number;
}

export interface CredentialCounters {
  success: number;
  failure: number;
  lastError?: string;
}

/** When wrong management secrets ban an address. */
export interface BanPolicy {
  readonly maxFailures: number;
  readonly banMs: number;
}

/** A message bus between the instances of a cluster (only the redis backend has one). */
export interface Bus {
  /** This instance's id (unique per process). */
  readonly instance: string;
  /** Publishes to every instance (this one included); resolves with how many received it, 0 when down. */
  publish(channel: string, message: string): Promise<number>;
  /** Publishes to one instance's own channel. */
  send(instance: string, channel: string, message: string): Promise<void>;
  /** Messages on `channel` (broadcast) and on this instance's own channel of that name. */
  subscribe(channel: string, handler: (message: string) => void): void;
}

export interface SharedState {
  readonly backend: 'memory' | 'redis';
  /** Connects (redis); never throws for an unreachable server. */
  start(): Promise<void>;
  /** Whether the shared store is reachable now (memory: always). */
  up(): boolean;
  /** Present when instances can talk to each other (redis). */
  readonly bus: Bus | undefined;

  /** A live or expired cooldown of the pair; callers compare `until` with now. */
  cooldown(cred: string, model: string): Cooldown | undefined;
  /** How many pairs have a cooldown entry (0: nothing to look up). */
  readonly cooldownEntries: number;
  cooldowns(): IterableIterator<Cooldown>;
  setCooldown(cooldown: Cooldown): void;
  clearCooldown(cred: string, model: string): void;

  /** The binding of a session key (`<pool>\0<session>`), unless expired. */
  binding(key: string, now: number): Binding | undefined;
  bind(key: string, binding: Binding, now: number): void;

  /** Next round-robin position of `scope`; positions are unbounded, callers take them modulo. */
  ticket(scope: string): number;
  /** Moves the cursor of `scope` on by `by` (skipped cooling credentials). */
  advance(scope: string, by: number): void;

  count(cred: string, ok: boolean, lastError?: string): void;
  /** Counters of these credentials: every instance's when shared (management only, may await). */
  counters(creds: readonly string[]): Promise<Map<string, CredentialCounters>>;

  /** Unix ms until which `address` is banned from management, 0 if it is not. */
  bannedUntil(address: string, now: number): number;
  /** Counts a wrong secret; resolves with the ban's end when this failure banned the address, else 0. */
  authFailure(address: string, now: number, policy: BanPolicy): Promise<number>;
  authSuccess(address: string): void;

  /** Drops local state of credentials, scopes and pairs that no longer exist (after a reload). */
  retain(live: { creds: ReadonlySet<string>; pairs: ReadonlySet<string>; scopes: ReadonlySet<string> }): void;
  close(): Promise<void>;
}

/** The key of a (credential, model) pair in `retain` and in the cooldown table. */
export const pairKey = (cred: string, model: string): string => `${cred}\u0000${model}`;
