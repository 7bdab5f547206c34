/**
 * Who may use the management API: loopback clients (others only with
 * `remote-management.allow-remote`), presenting the secret as `Authorization: Bearer <secret>`
 * or `X-Management-Key`. Five wrong secrets from one address ban it for 30 minutes, as in
 * CLI Proxy API; a missing secret is answered 401 but is not counted as a guess. Failures and
 * bans live in the shared state: with Redis, guesses against any instance count together and a
 * ban holds on all of them.
 */
import type { IncomingMessage } from 'node:http';
import { SecretVerifier } from '../config/management-secret.js';
import type { Config } from '../config/schema.js';
import { MemoryState } from '../state/memory.js';
import type { BanPolicy, SharedState } from '../state/types.js';
import { ManagementError } from './management-common.js';

const BAN_POLICY: BanPolicy = { maxFailures: 5, banMs: 30 * 60 * 1000 };

/** 127.0.0.0/8, ::1 and their IPv4-mapped form. */
export function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** Go's duration style, as in CLI Proxy API's message: `29m59s`. */
function wait(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s}s`;
}

function presentedSecret(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization?.trim();
  if (auth) {
    const bearer = /^bearer\s+(.+)$/i.exec(auth);
    // CLI Proxy API also takes a bare Authorization value.
    return bearer ? bearer[1]!.trim() : auth;
  }
  const key = req.headers['x-management-key'];
  return (Array.isArray(key) ? key[0] : key)?.trim() || undefined;
}

export interface GuardOptions {
  /** Accepted besides the configured secret (MANAGEMENT_PASSWORD). */
  readonly password?: string;
  readonly isLocal: (address: string) => boolean;
  /** Where failures and bans are kept (default: this process's memory). */
  readonly state?: SharedState;
}

export class ManagementGuard {
  private readonly verifier = new SecretVerifier();
  private readonly state: SharedState;

  constructor(private readonly options: GuardOptions) {
    this.state = options.state ?? new MemoryState();
  }

  /** Management is on when a secret is configured or the password option is set. */
  enabled(config: Config): boolean {
    return Boolean(config['remote-management']['secret-key'] || this.options.password);
  }

  /** Throws a ManagementError (401/403) unless the request may proceed. */
  async check(req: IncomingMessage, config: Config): Promise<void> {
    const address = req.socket.remoteAddress ?? 'unknown';
    const now = Date.now();
    const bannedUntil = this.state.bannedUntil(address, now);
    if (bannedUntil > now) {
      const left = bannedUntil - now;
      throw new ManagementError(403, `IP banned due to too many failed attempts. Try again in ${wait(left)}`, {
        'retry-after': String(Math.ceil(left / 1000)),
      });
    }
    if (!this.options.isLocal(address) && !config['remote-management']['allow-remote']) {
      throw new ManagementError(403, 'remote management disabled');
    }
    const secret = presentedSecret(req);
    if (!secret) throw new ManagementError(401, 'missing management key');
    if (!(await this.verifier.verify(secret, config['remote-management']['secret-key'], this.options.password))) {
      await this.state.authFailure(address, now, BAN_POLICY);
      throw new ManagementError(401, 'invalid management key');
    }
    this.state.authSuccess(address);
  }
}
