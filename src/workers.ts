/**
 * `workers: N` (or `--workers N`, `auto` = one per core): the primary process forks N workers
 * (node:cluster) that each run a whole gateway on the same port; the primary hands them the
 * connections. Without `redis-url` every worker has its own cooldowns, bindings, cursors and
 * bans; with it they share them like separate instances. The primary restarts a worker that dies
 * (backing off when it dies right after starting), and on SIGTERM/SIGINT tells every worker to
 * drain (each closes its gateway: requests in flight finish) and exits when the last one has; a
 * second signal stops them at once.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from './observe/logger.js';

/** Set in a worker's environment: its slot (0-based), and whether it replaces a dead one. */
export const WORKER_SLOT = 'CLIPROXY_WORKER_SLOT';
export const WORKER_RESTARTED = 'CLIPROXY_WORKER_RESTARTED';
/**
 * The primary asks its workers to drain by message, not by signal: a terminal's Ctrl-C (or a
 * supervisor signalling the whole process group) already delivers the signal to every worker,
 * and a second signal means "exit now".
 */
const DRAIN_MESSAGE = 'cliproxy:drain';

/** In a worker: runs `drain` when the primary asks for it. */
export function onDrainRequest(drain: () => void): void {
  process.on('message', (message) => {
    if (message === DRAIN_MESSAGE) drain();
  });
}

/** A run of this long counts as healthy: the restart delay starts over. */
const HEALTHY_MS = 10_000;
const MAX_RESTART_DELAY_MS = 10_000;

/** `auto` → cores; a number as given; undefined or 1 → no workers. */
export function workerCount(value: number | 'auto' | undefined): number {
  if (value === 'auto') return availableParallelism();
  return value ?? 1;
}

/** `--workers` flag: a positive integer or `auto`; undefined when absent, throws on anything else. */
export function parseWorkersFlag(raw: string | undefined): number | 'auto' | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'auto') return 'auto';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`--workers: expected a number of processes (1-256) or "auto", got "${raw}"`);
  return n;
}

export function isWorker(): boolean {
  return cluster.isWorker;
}

interface Slot {
  worker: Worker;
  startedAt: number;
  delay: number;
  listening: boolean;
}

/**
 * How long the primary waits for its workers once it asked them to drain: their own cap (30 s)
 * plus time to exit. Past it, whatever is left is killed: a stop never hangs.
 */
const STOP_CAP_MS = 35_000;

/**
 * Runs the primary: forks `count` workers (same argv), keeps them alive, drains them on a signal.
 * `slots` holds only live workers: a dead one waiting for its restart is not in it, so a stop
 * during that delay does not wait for a process that is gone.
 */
export function runPrimary(count: number, log: Logger): void {
  const slots = new Map<number, Slot>();
  let stopping = false;
  const exitWhenEmpty = () => {
    if (slots.size === 0) process.exit(process.exitCode ?? 0);
  };
  /**
   * A listening worker drains on request. One still starting has nothing in flight and may not
   * have its message handler yet (a message sent before it is lost): it is stopped by signal.
   */
  const askToStop = (entry: Slot) => {
    if (entry.listening && entry.worker.isConnected()) entry.worker.send(DRAIN_MESSAGE);
    else entry.worker.process.kill('SIGTERM');
  };
  const stopAll = () => {
    stopping = true;
    for (const entry of slots.values()) askToStop(entry);
    setTimeout(() => {
      log.error({ workers: slots.size, capMs: STOP_CAP_MS }, 'workers still running after the drain cap; killing them');
      for (const { worker } of slots.values()) worker.process.kill('SIGKILL');
      process.exit(1);
    }, STOP_CAP_MS).unref();
  };

  const fork = (slot: number, restarted: boolean, delay: number) => {
    const worker = cluster.fork({ [WORKER_SLOT]: String(slot), [WORKER_RESTARTED]: restarted ? '1' : '' });
    const entry: Slot = { worker, startedAt: Date.now(), delay, listening: false };
    slots.set(slot, entry);
    worker.once('listening', () => {
      entry.listening = true;
      // Asked to stop while it was starting and still alive: ask again, now that it can hear.
      if (stopping) askToStop(entry);
    });
    worker.on('exit', (code, signal) => {
      slots.delete(slot);
      if (stopping) return exitWhenEmpty();
      // A first start that never listened (port in use, bad config): nothing to keep alive.
      if (!restarted && !entry.listening) {
        log.error({ worker: slot, code, signal }, 'worker exited before it could listen; stopping');
        process.exitCode = code || 1;
        stopAll();
        return exitWhenEmpty();
      }
      const lived = Date.now() - entry.startedAt;
      const next = lived >= HEALTHY_MS ? 100 : Math.min(MAX_RESTART_DELAY_MS, Math.max(100, delay * 2));
      log.error({ worker: slot, pid: worker.process.pid, code, signal, restartInMs: next }, 'worker died; restarting it');
      setTimeout(() => {
        if (!stopping) fork(slot, true, next);
      }, next).unref();
    });
  };

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: stopping workers now');
      for (const { worker } of slots.values()) worker.process.kill('SIGKILL');
      process.exit(1);
    }
    log.info({ signal, workers: slots.size }, 'shutting down: every worker drains its requests in flight');
    stopAll();
    exitWhenEmpty();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  for (let slot = 0; slot < count; slot++) fork(slot, false, 100);
}
