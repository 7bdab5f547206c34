/**
 * `usage-retention-days`: records older than that are deleted when the store opens and then every
 * hour (0 keeps everything). Several instances sharing a database may each prune: deleting what
 * is already gone is a no-op, so no coordination is needed.
 */
import type { Logger } from './logger.js';

const EVERY_MS = 60 * 60 * 1000;
const DAY_MS = 86_400_000;

export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private days = 0;
  private running: Promise<void> | undefined;

  constructor(
    /** Deletes records before the cutoff (unix ms); returns how many. */
    private readonly prune: (cutoff: number) => Promise<number>,
    private readonly log: Logger,
    private readonly location: string,
  ) {}

  /** Applies a (new) retention; prunes now when it became shorter or was switched on. */
  set(days: number): void {
    const before = this.days;
    this.days = days;
    if (days <= 0) {
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    this.timer ??= setInterval(() => void this.run(), EVERY_MS).unref();
    if (before <= 0 || days < before) void this.run();
  }

  /** One pass now (also after an import, so old imported history does not linger). */
  run(): Promise<void> {
    if (this.days <= 0) return Promise.resolve();
    this.running ??= (async () => {
      const cutoff = Date.now() - this.days * DAY_MS;
      try {
        const removed = await this.prune(cutoff);
        if (removed > 0) this.log.info({ db: this.location, removed, days: this.days }, 'usage statistics: removed records past usage-retention-days');
      } catch (err) {
        this.log.warn({ db: this.location, err: { message: (err as Error).message } }, 'usage statistics: cannot apply usage-retention-days now (retried within the hour)');
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Resolves when no pass is running (reads wait for it, so they never show what is being removed). */
  async idle(): Promise<void> {
    await this.running;
  }

  /** No more passes; one running (a DELETE on a hanging database) is not waited for. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.days = 0;
  }
}
