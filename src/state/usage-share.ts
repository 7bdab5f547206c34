/**
 * Usage statistics of the whole cluster, asked for on any instance. Each instance keeps its own
 * records (usage-db); the instance serving GET /v0/management/usage publishes the question, every
 * instance answers on the asker's own channel with its snapshot for the same range, and the
 * answers are added up. The number of instances that heard the question is what PUBLISH returns,
 * so the asker waits for exactly those (at most ANSWER_MS). Instances that share one store (the
 * workers of one host on one usage.db, or a shared database) are counted once: every answer names
 * its store. Redis keeps no usage history; without Redis an instance shows its own store.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../observe/logger.js';
import type { UsageRange, UsageSnapshot } from '../observe/usage-store.js';
import type { Bus } from './types.js';
import { mergeUsage } from './usage-merge.js';

/** What a usage store offers (SQLite today; any store with the same query). */
export interface UsageSource {
  snapshot(range: UsageRange, detailsPerModel?: number): UsageSnapshot | Promise<UsageSnapshot>;
}

const QUESTION = 'usage-q';
const ANSWER = 'usage-a';
const ANSWER_MS = 1500;

interface Question {
  readonly id: string;
  readonly from: string;
  readonly range: UsageRange;
  /** null: Infinity (JSON has none). */
  readonly details: number | null;
}

interface Answer {
  readonly id: string;
  readonly store: string | null;
  readonly usage?: UsageSnapshot;
}

/** Names a usage store (its location: a file path or a database URL) so that instances sharing one are counted once. */
export function usageStoreIdentity(location: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    // A database server: the same host, port and database whoever connects.
    try {
      const u = new URL(location);
      return `db:${u.hostname}:${u.port}${u.pathname}`;
    } catch {
      return 'db:unparsable';
    }
  }
  return `file:${hostname()}:${location}`;
}

export interface ClusterUsage {
  readonly usage: UsageSnapshot;
  /** Distinct stores added up (this instance's included). */
  readonly stores: number;
  /** Instances that heard the question but did not answer in time. */
  readonly missing: number;
}

export class UsageShare {
  private readonly waiting = new Map<string, (answer: Answer) => void>();

  constructor(
    private readonly bus: Bus,
    /** This instance's store, if usage statistics are on. */
    private readonly source: () => Promise<UsageSource | undefined>,
    /** This instance's store identity (follows the config). */
    private readonly identity: () => string,
    private readonly log: Logger,
  ) {
    bus.subscribe(QUESTION, (message) => void this.answer(message));
    bus.subscribe(ANSWER, (message) => {
      try {
        const answer = JSON.parse(message) as Answer;
        this.waiting.get(answer.id)?.(answer);
      } catch {
        /* ignore */
      }
    });
  }

  private async answer(message: string): Promise<void> {
    let q: Question;
    try {
      q = JSON.parse(message) as Question;
    } catch {
      return;
    }
    if (q.from === this.bus.instance) return;
    let answer: Answer = { id: q.id, store: null };
    try {
      const store = await this.source();
      if (store) answer = { id: q.id, store: this.identity(), usage: await store.snapshot(q.range, q.details ?? Infinity) };
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'usage statistics: cannot answer another instance');
    }
    await this.bus.send(q.from, ANSWER, JSON.stringify(answer));
  }

  /** Every instance's usage for `range`, this instance's `local` snapshot included. */
  async gather(local: UsageSnapshot, range: UsageRange, detailsPerModel: number): Promise<ClusterUsage> {
    const id = randomBytes(8).toString('hex');
    const answers: Answer[] = [];
    let expected = 0;
    let done: () => void = () => {};
    const complete = new Promise<void>((resolve) => (done = resolve));
    this.waiting.set(id, (a) => {
      answers.push(a);
      if (answers.length >= expected) done();
    });
    try {
      const question: Question = { id, from: this.bus.instance, range, details: Number.isFinite(detailsPerModel) ? detailsPerModel : null };
      // Everyone subscribed hears it, this instance too.
      expected = Math.max(0, (await this.bus.publish(QUESTION, JSON.stringify(question))) - 1);
      if (answers.length < expected) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([complete, new Promise<void>((resolve) => (timer = setTimeout(resolve, ANSWER_MS)))]);
        clearTimeout(timer);
      }
    } finally {
      this.waiting.delete(id);
    }
    const stores = new Set([this.identity()]);
    const snapshots = [local];
    for (const a of answers) {
      if (a.store === null || !a.usage || stores.has(a.store)) continue;
      stores.add(a.store);
      snapshots.push(a.usage);
    }
    return { usage: mergeUsage(snapshots, detailsPerModel), stores: snapshots.length, missing: Math.max(0, expected - answers.length) };
  }
}
