/**
 * Stored responses (`store: true`, the Responses API's default), so that `previous_response_id`,
 * `GET /v1/responses/{id}` and `DELETE` work. In memory, per gateway, bounded by count and bytes,
 * and forgotten after a TTL of disuse (each use renews it): a cache of conversations, not a
 * database. Each entry keeps only its own request's input and its response; a conversation is the
 * chain of entries linked by `previous_response_id`, so a long conversation costs memory linear in
 * its length. Entries belong to the client key that created them: other keys do not see them.
 */
import type { ResponseObject } from '../translate/responses/types.js';

export interface StoreLimits {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly ttlMs: number;
}

export const DEFAULT_STORE_LIMITS: StoreLimits = { maxEntries: 2000, maxBytes: 64 * 1024 * 1024, ttlMs: 60 * 60 * 1000 };

interface Entry {
  readonly response: ResponseObject;
  /** This request's input items (a string input stored as one user message). */
  readonly input: readonly unknown[];
  readonly previousId: string | undefined;
  readonly owner: string;
  readonly bytes: number;
  expiresAt: number;
}

/** Longest chain followed (a guard; real conversations compact long before). */
const MAX_CHAIN = 10_000;

export class ResponseStore {
  /** Insertion order is use order (an entry is re-inserted when used): the oldest come first. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly limits: StoreLimits = DEFAULT_STORE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  /** Keeps a finished response; false when it alone exceeds the byte limit. */
  put(owner: string, response: ResponseObject, input: readonly unknown[], previousId?: string): boolean {
    const bytes = Buffer.byteLength(JSON.stringify(input)) + Buffer.byteLength(JSON.stringify(response));
    if (bytes > this.limits.maxBytes) return false;
    this.remove(response.id);
    this.entries.set(response.id, { response, input, previousId, owner, bytes, expiresAt: this.now() + this.limits.ttlMs });
    this.bytes += bytes;
    this.evict();
    return true;
  }

  /** The stored response, if `owner` may see it. */
  get(owner: string, id: string): ResponseObject | undefined {
    return this.use(owner, id)?.response;
  }

  delete(owner: string, id: string): boolean {
    if (!this.use(owner, id)) return false;
    this.remove(id);
    return true;
  }

  /**
   * The conversation up to and including response `id`: every input and output item of its chain,
   * oldest first. Undefined when it, or a response it follows, is unknown (expired or evicted).
   */
  history(owner: string, id: string): unknown[] | undefined {
    const chain: Entry[] = [];
    for (let at: string | undefined = id; at !== undefined && chain.length < MAX_CHAIN; ) {
      const entry = this.use(owner, at);
      if (!entry) return undefined;
      chain.push(entry);
      at = entry.previousId;
    }
    const items: unknown[] = [];
    for (let i = chain.length - 1; i >= 0; i--) items.push(...chain[i]!.input, ...chain[i]!.response.output);
    return items;
  }

  /** Everything response `id` was given: the conversation before it, then its own input. */
  inputItems(owner: string, id: string): unknown[] | undefined {
    const entry = this.use(owner, id);
    if (!entry) return undefined;
    const before = entry.previousId === undefined ? [] : this.history(owner, entry.previousId);
    return before ? [...before, ...entry.input] : [...entry.input];
  }

  /** A live entry of `owner`, renewed and moved to the young end. */
  private use(owner: string, id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.remove(id);
      return undefined;
    }
    if (entry.owner !== owner) return undefined;
    entry.expiresAt = this.now() + this.limits.ttlMs;
    this.entries.delete(id);
    this.entries.set(id, entry);
    return entry;
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    this.bytes -= entry.bytes;
  }

  /** Drops the oldest entries while over a limit, and expired ones at the old end. */
  private evict(): void {
    const now = this.now();
    for (const [id, entry] of this.entries) {
      const over = this.entries.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes;
      if (!over && entry.expiresAt > now) break;
      this.remove(id);
    }
  }
}
