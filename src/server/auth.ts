/**
 * Client authentication for /v1: the key may come as `Authorization: Bearer`, `x-api-key`
 * (Anthropic clients, Claude Code), `x-goog-api-key` or `?key=`. Compared in constant time
 * against the sha256 of every configured key.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { digestKey, type Snapshot } from '../config/store.js';
import { ProxyError } from '../errors.js';

export function presentedKey(req: IncomingMessage, query: URLSearchParams | undefined): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const match = /^Bearer\s+(.+)$/i.exec(auth);
    if (match) return match[1]!.trim();
  }
  const header = req.headers['x-api-key'] ?? req.headers['x-goog-api-key'];
  if (typeof header === 'string' && header !== '') return header;
  return query?.get('key') ?? undefined;
}

/**
 * Index of the matching client key, or -1 when the proxy is open (no api-keys configured).
 * `how` names the way this client API sends keys, for the missing-key message.
 */
export function authenticate(snap: Snapshot, req: IncomingMessage, query: URLSearchParams | undefined, how = '"Authorization: Bearer <key>"'): number {
  if (snap.clientKeyDigests.length === 0) return -1;
  const key = presentedKey(req, query);
  if (!key) {
    throw new ProxyError(401, 'invalid_api_key', `missing API key: send ${how} with one of the proxy's api-keys`, {
      type: 'authentication_error',
    });
  }
  const digest = digestKey(key);
  let found = -1;
  // Compare against every key so timing does not reveal which one matched.
  snap.clientKeyDigests.forEach((candidate, index) => {
    if (timingSafeEqual(candidate, digest) && found < 0) found = index;
  });
  if (found < 0) throw new ProxyError(401, 'invalid_api_key', 'invalid API key', { type: 'authentication_error' });
  return found;
}
