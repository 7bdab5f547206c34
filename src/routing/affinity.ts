/**
 * Session affinity: requests of one session stick to the credential that last served it, so
 * upstream prompt caches keep hitting. A binding expires `ttl` after its last use; bindings live
 * in the shared state (bounded, least recently used first; shared by every instance with Redis).
 * A failing or cooling credential is simply not offered first, and the next success rebinds the
 * session.
 */
import { createHash } from 'node:crypto';
import type { SharedState } from '../state/types.js';
import type { Candidate } from './balancer.js';
import type { Pool } from './registry.js';

export class SessionAffinity {
  constructor(private readonly state: SharedState) {}

  lookup(pool: Pool, sessionKey: string, now: number): Candidate | undefined {
    const binding = this.state.binding(`${pool.id.toLowerCase()}\u0000${sessionKey}`, now);
    if (!binding) return undefined;
    for (const target of pool.members) {
      if (target.key !== binding.target) continue;
      const credential = target.provider.credentials.find((c) => c.stateId === binding.cred);
      if (credential) return { target, credential };
    }
    return undefined;
  }

  bind(pool: Pool, sessionKey: string, candidate: Candidate, ttlMs: number, now = Date.now()): void {
    const binding = { target: candidate.target.key, cred: candidate.credential.stateId, expires: now + ttlMs };
    this.state.bind(`${pool.id.toLowerCase()}\u0000${sessionKey}`, binding, now);
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
