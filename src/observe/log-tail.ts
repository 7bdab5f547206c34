/**
 * The last log lines of this process, in memory, for the Management Center's log viewer
 * (`/v0/management/logs`). The logger hands each JSON line over as it is written (a reference
 * kept, no copy, no parsing); lines are formatted only when the viewer asks, in the
 * `[2026-01-02 15:04:05] [info] message key=value` form its parser reads.
 */
const DEFAULT_CAPACITY = 2000;

interface Entry {
  readonly ms: number;
  readonly line: string;
}

export class LogTail {
  private readonly entries: (Entry | undefined)[];
  private next = 0;
  private size = 0;

  constructor(readonly capacity = DEFAULT_CAPACITY) {
    this.entries = new Array<Entry | undefined>(capacity);
  }

  push(line: string): void {
    this.entries[this.next] = { ms: Date.now(), line };
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  clear(): number {
    const removed = this.size;
    this.entries.fill(undefined);
    this.size = 0;
    this.next = 0;
    return removed;
  }

  /** Lines written after `afterSeconds` (unix), oldest first, at most `limit` (the newest ones). */
  read(afterSeconds = 0, limit = this.capacity): { lines: string[]; latestSeconds: number } {
    const out: string[] = [];
    let latest = afterSeconds;
    const start = (this.next - this.size + this.capacity) % this.capacity;
    for (let i = 0; i < this.size; i++) {
      const entry = this.entries[(start + i) % this.capacity]!;
      const seconds = Math.floor(entry.ms / 1000);
      if (seconds <= afterSeconds) continue;
      out.push(formatLine(entry.line, entry.ms));
      latest = Math.max(latest, seconds);
    }
    return { lines: limit < out.length ? out.slice(out.length - limit) : out, latestSeconds: latest };
  }
}

const LEVELS: Readonly<Record<number, string>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

const pad = (n: number) => String(n).padStart(2, '0');

function stamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A pino JSON line as the panel reads it; anything else is shown as it is. */
export function formatLine(line: string, ms: number): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.trimEnd();
  }
  const { level, time, msg, ...fields } = entry;
  let out = `[${stamp(typeof time === 'number' ? time : ms)}] [${LEVELS[level as number] ?? 'info'}] `;
  if (msg === 'request' && typeof fields.status === 'number') {
    // Access lines in the `| status | latency | METHOD path` layout the viewer picks apart.
    const { status, ms: latency, method, path, requestId, ...rest } = fields;
    out += `| ${status} | ${String(latency)}ms | ${String(method)} ${String(path)} request_id=${String(requestId)}`;
    for (const [key, value] of Object.entries(rest)) if (value !== undefined) out += ` ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
    return out;
  }
  out += typeof msg === 'string' ? msg : '';
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) out += ` ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
  }
  return out;
}

/** This process's tail: the logger feeds it (observe/logger.ts). */
export const logTail = new LogTail();
