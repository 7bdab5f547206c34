/**
 * Session affinity: requests of one session stick to the credential that last served it, so
 * upstream prompt caches keep hitting. A binding expires `ttl` after its last use; the map is
 * bounded (least recently used bindings go first). A failing or cooling credential is simply
 * not offered first, and the next success rebinds the session.
 */
import { createHash } from 'node:crypto';
import type { Candidate } from './balancer.js';
import type { Pool } from './registry.js';

const MAX_BINDINGS = 100_000;

interface Binding {
  readonly targetKey: string;
  readonly stateKey: string;
  expires: number;
}

export class SessionAffinity {
  private readonly bindings = new Map<string, Binding>();

  lookup(pool: Pool, sessionKey: string, now: number): Candidate | undefined {
    const key = `${pool.id.toLowerCase()}\u0000${sessionKey}`;
    const binding = this.bindings.get(key);
    if (!binding) return undefined;
    if (binding.expires <= now) {
      this.bindings.delete(key);
      return undefined;
    }
    for (const target of pool.members) {
      if (target.key !== binding.targetKey) continue;
      const credential = target.provider.credentials.find((c) => c.stateKey === binding.stateKey);
      if (credential) return { target, credential };
    }
    return undefined;
  }

  bind(pool: Pool, sessionKey: string, candidate: Candidate, ttlMs: number, now = Date.now()): void {
    const key = `${pool.id.toLowerCase()}\u0000${sessionKey}`;
    this.bindings.delete(key); // re-insert: Map order is our LRU order
    this.bindings.set(key, { targetKey: candidate.target.key, stateKey: candidate.credential.stateKey, expires: now + ttlMs });
    if (this.bindings.size > MAX_BINDINGS) this.evict(now);
  }

  private evict(now: number): void {
    for (const [key, b] of this.bindings) if (b.expires <= now) this.bindings.delete(key);
    for (const key of this.bindings.keys()) {
      if (this.bindings.size <= MAX_BINDINGS * 0.9) break;
      this.bindings.delete(key);
    }
  }

  /** Drops bindings to credentials that no longer exist. */
  retain(liveStateKeys: ReadonlySet<string>): void {
    for (const [key, b] of this.bindings) if (!liveStateKeys.has(b.stateKey)) this.bindings.delete(key);
  }

  get size(): number {
    return this.bindings.size;
  }
}

const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : undefined);

/**
 * The session a request belongs to, in order: `prompt_cache_key` or `user` in the body, the
 * `x-session-id` header, Anthropic's `metadata.user_id`, else a hash of the first messages
 * (stable while a conversation grows, since earlier turns do not change).
 */
export function sessionKeyOf(body: Record<string, unknown>, headers: Record<string, string | string[] | undefined>): string | undefined {
  const explicit = str(body.prompt_cache_key) ?? str(body.user) ?? str(headers['x-session-id']) ?? str((body.metadata as { user_id?: unknown } | undefined)?.user_id);
  if (explicit) return `id:${explicit}`;
  const first = [body.system, ...(Array.isArray(body.messages) ? body.messages.slice(0, 2) : [])].filter((v) => v !== undefined);
  if (first.length === 0) return undefined;
  return `h:${createHash('sha256').update(JSON.stringify(first)).digest('base64url').slice(0, 22)}`;
}
