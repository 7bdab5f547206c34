/**
 * The management secret: stored as a bcrypt hash (as CLI Proxy API does; its `$2a$`/`$2b$`/`$2y$`
 * hashes are accepted as they are), checked against what a request presents, or against the
 * MANAGEMENT_PASSWORD environment variable, which is compared in clear.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { compare, hash } from 'bcryptjs';

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
/** bcrypt cost: ~60 ms per hash with bcryptjs, once at startup and once per new secret. */
const COST = 10;

export const isBcryptHash = (value: string): boolean => BCRYPT.test(value);

export const hashSecret = (plain: string): Promise<string> => hash(plain, COST);

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Checks secrets; remembers (as a digest) the last secret that matched each hash. */
export class SecretVerifier {
  /**
   * bcrypt is deliberately slow (~60 ms); a management client sends its secret with every call.
   * A match is remembered as stored hash → sha256 of the secret, so only the first call pays.
   */
  private readonly accepted = new Map<string, Buffer>();

  /** True when `provided` matches the stored secret (hash or plain) or the environment password. */
  async verify(provided: string, stored: string | undefined, envPassword: string | undefined): Promise<boolean> {
    const given = digest(provided);
    if (envPassword && timingSafeEqual(given, digest(envPassword))) return true;
    if (!stored) return false;
    if (!isBcryptHash(stored)) return timingSafeEqual(given, digest(stored));
    const known = this.accepted.get(stored);
    if (known && timingSafeEqual(known, given)) return true;
    if (!(await compare(provided, stored))) return false;
    if (this.accepted.size > 16) this.accepted.clear();
    this.accepted.set(stored, given);
    return true;
  }
}
