/** The runner's handle on the load-generator process: one job at a time over IPC, with a timeout. */
import { startScript } from './procs.mjs';

export async function startDriver(lifetimeMs) {
  const { child, pid } = await startScript(new URL('../driver.mjs', import.meta.url), [], {
    name: 'driver',
    lifetimeMs,
    env: { BENCH_KEEP_CHANNEL: '1' },
  });
  let nextId = 0;
  const pending = new Map();
  let onProgress = () => {};
  child.on('message', (msg) => {
    if (msg.progress) return onProgress(msg.progress);
    const job = pending.get(msg.id);
    if (!job) return;
    pending.delete(msg.id);
    clearTimeout(job.timer);
    if (msg.result.fatal) job.reject(new Error(`driver: ${msg.result.fatal}`));
    else job.resolve(msg.result);
  });
  child.once('exit', (code, signal) => {
    for (const job of pending.values()) job.reject(new Error(`driver exited (${signal ?? code})\n${child.tail()}`));
    pending.clear();
  });
  return {
    pid,
    /** Runs one job; `progress` receives interim reports (open-streams job). */
    run(job, timeoutMs, progress = () => {}) {
      onProgress = progress;
      const id = ++nextId;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`driver job ${job.type} did not finish within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        child.send({ id, job });
      });
    },
  };
}
