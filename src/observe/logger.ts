/**
 * Logging: pino, one JSON line per event (a readable line when stdout is a terminal). Secrets are
 * never logged in clear: callers pass them through maskSecret, and the redact list catches the
 * header names that carry them.
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import { logTail } from './log-tail.js';

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

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * A JSON log line as a terminal reader wants it: `12:00:01 INFO request method=POST ...`. Used
 * only when stdout is a TTY (pipes and files get JSON, for machines).
 */
export function prettyLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { level, time, msg, ...fields } = entry;
  let out = typeof time === 'number' ? new Date(time).toTimeString().slice(0, 8) : '';
  out += ` ${LEVELS[level as number] ?? String(level)} ${typeof msg === 'string' ? msg : ''}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) out += ` ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
  }
  return `${out}\n`;
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
  const tty = process.stdout.isTTY === true;
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
      boom.write(tty ? prettyLine(line) : line);
    },
  };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.debug ? 'debug' : (process.env.LOG_LEVEL ?? 'info');
  const out = options.destination ?? stdoutDestination();
  // Every line also goes to the in-memory tail the management log viewer reads.
  const destination: DestinationStream = {
    write(line: string) {
      logTail.push(line);
      out.write(line);
    },
  };
  return pino({ level, base: undefined, redact: { paths: REDACT, censor: '***' } }, destination);
}
