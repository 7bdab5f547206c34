/**
 * SIGTERM / SIGINT for a process that serves: the first signal drains (requests and streams in
 * flight finish, then exit 0 as soon as the last one is done, `capMs` at most); a second signal
 * exits at once. The CLI and the demo use it; a cluster worker can use it as is.
 */
import { constants } from 'node:os';
import type { Logger } from './observe/logger.js';

export interface ShutdownOptions {
  readonly log: Logger;
  /** Drains and releases everything (e.g. gateway.close); resolves when done. */
  readonly drain: (capMs: number) => Promise<void>;
  /** Longest a drain may take before connections are cut (default 30 s). */
  readonly capMs?: number;
  /** Runs just before the process exits, whatever the path (sync: temp files, ...). */
  readonly beforeExit?: () => void;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** Installs the handlers; returns a function that removes them. */
export function exitOnSignals(options: ShutdownOptions): () => void {
  const { log, drain, capMs = 30_000, beforeExit } = options;
  let stopping = false;
  const exit = (code: number) => {
    beforeExit?.();
    process.exit(code);
  };
  const onSignal = (signal: (typeof SIGNALS)[number]) => {
    if (stopping) return exitNow(signal);
    stopping = true;
    log.info({ signal, capMs }, 'shutting down: draining requests in flight (send the signal again to exit now)');
    const started = performance.now();
    drain(capMs).then(
      () => {
        log.info({ ms: Math.round(performance.now() - started) }, 'drained, exiting');
        exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  /**
   * The second signal: die of it, as a process without a handler would. process.exit() is not
   * "at once" here: its teardown waits for V8's background work (measured 1-2 s with a stream in
   * flight on a loaded machine). Dying of the signal also tells the supervisor what happened.
   */
  const exitNow = (signal: (typeof SIGNALS)[number]) => {
    // stderr is synchronous for files and pipes on POSIX: this line is out before we go.
    process.stderr.write(`cliproxy: second ${signal}: exiting now, requests in flight are cut\n`);
    beforeExit?.();
    remove();
    setTimeout(() => process.exit(128 + constants.signals[signal]), 500).unref(); // someone else handles it
    process.kill(process.pid, signal);
  };
  const remove = () => {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return remove;
}
