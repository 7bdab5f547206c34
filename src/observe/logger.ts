/**
 * Logging: pino, one JSON line per event (pretty only when the operator's terminal is a TTY and
 * pino-pretty is installed). Secrets are never logged in clear: callers pass them through
 * maskSecret, and the redact list catches the header names that carry them.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** `sk-or-v1-abcdef...b780` → `sk-or-...b780`; short values reveal nothing. */
export function maskSecret(secret: string | undefined): string {
  if (!secret) return '(none)';
  if (secret.length < 12) return '***';
  return `${secret.slice(0, 6)}...${secret.slice(-4)}`;
}

/** Masks the password of a proxy URL: `socks5://user:****@host:1080`. */
export function maskProxyUrl(proxyUrl: string | undefined): string | undefined {
  if (!proxyUrl) return proxyUrl;
  try {
    const url = new URL(proxyUrl);
    if (url.password) url.password = '****';
    return url.toString();
  } catch {
    return proxyUrl;
  }
}

const REDACT = [
  'authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["x-goog-api-key"]',
  'headers["x-management-key"]',
  'headers.cookie',
];

export interface LoggerOptions {
  debug?: boolean;
  /** Where lines go; defaults to stdout (asynchronous, off the hot path). */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.debug ? 'debug' : (process.env.LOG_LEVEL ?? 'info');
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false });
  return pino({ level, base: undefined, redact: { paths: REDACT, censor: '***' } }, destination);
}
