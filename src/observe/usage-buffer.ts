/**
 * Usage records between the request path and a database: queued in memory, written in batches by
 * one writer at a time. When a write fails (database down, slow past its timeout, disk full) the
 * records stay queued and the writer retries with backoff; the queue is bounded, and records
 * that do not fit are dropped and counted. Each outage is logged once when it starts and once
 * when it ends, not per record or per retry.
 */
import type { Logger } from './logger.js';
import type { UsageRecord, UsageStoreStats } from './usage-store.js';

export interface UsageBufferOptions {
  /** Writes a batch; throws when it could not (then the batch is retried). */
  readonly write: (batch: readonly UsageRecord[]) => Promise<void>;
  readonly log: Logger;
  /** For log lines: the path or masked URL. */
  readonly location: string;
  readonly maxBuffered: number;
  /** Delay between a first record and its write (records arriving meanwhile share the batch). */
  readonly flushMs?: number;
  readonly batchSize?: number;
}

const FLUSH_MS = 200;
const BATCH = 2000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;
const CLOSE_WAIT_MS = 5000;

export class UsageBuffer {
  private queue: UsageRecord[] = [];
  /** Index of the first record not yet written (the queue is compacted as it drains). */
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private retryMs = 0;
  private down = false;
  private dropLogged = false;
  private droppedInOutage = 0;
  private closed = false;
  dropped = 0;
  maxBuffered: number;

  constructor(private readonly options: UsageBufferOptions) {
    this.maxBuffered = options.maxBuffered;
  }

  get pending(): number {
    return this.queue.length - this.head;
  }

  stats(): UsageStoreStats {
    return { buffered: this.pending, dropped: this.dropped, up: !this.down };
  }

  push(r: UsageRecord): void {
    if (this.closed) return;
    if (this.pending >= this.maxBuffered) {
      this.dropped++;
      this.droppedInOutage++;
      if (!this.dropLogged) {
        this.dropLogged = true;
        this.options.log.error(
          { db: this.options.location, buffered: this.pending },
          'usage statistics: buffer full, dropping new records until the database is writable again (counted in cliproxy_usage_records_dropped_total)',
        );
      }
      return;
    }
    this.queue.push(r);
    if (!this.timer && !this.writing) this.timer = setTimeout(() => void this.drain(), this.options.flushMs ?? FLUSH_MS).unref();
  }

  /** Writes everything queued now; resolves (never rejects) when done or when a write failed. */
  async flush(): Promise<boolean> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.writing) await this.writing;
    if (this.pending > 0) await this.drain();
    return this.pending === 0;
  }

  /** A last write attempt, bounded (a hanging database must not hold up shutdown); what is left is logged as lost. */
  async close(waitMs = CLOSE_WAIT_MS): Promise<void> {
    let deadline: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((resolve) => (deadline = setTimeout(resolve, waitMs)))]);
    clearTimeout(deadline);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending > 0) this.options.log.error({ db: this.options.location, lost: this.pending }, 'usage statistics: records not written before shutdown (database unavailable)');
  }

  private drain(): Promise<void> {
    this.timer = undefined;
    if (this.writing) return this.writing;
    const run = (async () => {
      try {
        await this.writeAll();
      } finally {
        this.writing = undefined;
        // Records queued while the last batch was in flight, after the loop looked.
        if (this.pending > 0 && !this.down && !this.timer && !this.closed) this.timer = setTimeout(() => void this.drain(), 0).unref();
      }
    })();
    this.writing = run;
    return run;
  }

  private async writeAll(): Promise<void> {
    const size = this.options.batchSize ?? BATCH;
    do {
      // Empty only while down with nothing queued: a probe, so the outage ends when the database is back.
      const batch = this.queue.slice(this.head, this.head + size);
      if (batch.length === 0 && !this.down) return;
      try {
        await this.options.write(batch);
      } catch (err) {
        this.failed(err);
        return;
      }
      this.head += batch.length;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      } else if (this.head > 4096 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      this.recovered(batch.length);
    } while (this.pending > 0);
  }

  /** The database failed before any write (e.g. at start): an outage, retried (probed) with backoff. */
  markDown(err: unknown): void {
    if (this.closed || this.writing || this.timer) return this.failed(err, false);
    this.failed(err);
  }

  private failed(err: unknown, retry = true): void {
    if (!this.down) {
      this.down = true;
      this.options.log.error(
        { db: this.options.location, err: { message: (err as Error)?.message, code: (err as { code?: string })?.code }, buffered: this.pending, limit: this.maxBuffered },
        'usage statistics: cannot write to the database; buffering records in memory until it is back',
      );
    }
    if (this.closed || !retry) return;
    this.retryMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, this.retryMs * 2));
    this.timer = setTimeout(() => void this.drain(), this.retryMs).unref();
  }

  private recovered(written: number): void {
    this.retryMs = 0;
    if (!this.down) return;
    this.down = false;
    this.dropLogged = false;
    this.options.log.info({ db: this.options.location, written, buffered: this.pending, dropped: this.droppedInOutage }, 'usage statistics: database writable again; writing buffered records');
    this.droppedInOutage = 0;
  }
}
