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
  /** Where lines go; defaults to stdout (asynchronous and batched, off the hot path). */
  destination?: DestinationStream;
}

/** Longest time a log line waits in the stdout buffer. */
const FLUSH_MS = 200;

/**
 * Stdout, asynchronous and batched: lines collect in a 4 KiB buffer and are written when it fills
 * or FLUSH_MS later, so a busy server makes one write per batch rather than one per line (the
 * access log writes a line per request; a write per line cost ~10 µs of CPU per request). What is
 * left is written synchronously at exit.
 */
function stdoutDestination(): DestinationStream {
  const boom = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  let pending = false;
  const timer = setInterval(() => {
    if (!pending) return;
    pending = false;
    boom.flush();
  }, FLUSH_MS).unref();
  process.once('exit', () => {
    clearInterval(timer);
    try {
      boom.flushSync();
    } catch {
      /* stdout already gone */
    }
  });
  return {
    write(line: string) {
      pending = true;
      boom.write(line);
    },
  };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.debug ? 'debug' : (process.env.LOG_LEVEL ?? 'info');
  const destination = options.destination ?? stdoutDestination();
  return pino({ level, base: undefined, redact: { paths: REDACT, censor: '***' } }, destination);
}
