/**
 * Preloaded into every process the benchmark starts (`node --import`), cliproxy included, so that
 * nothing outlives a run: the process exits when the runner's IPC channel goes away (the runner
 * ended or was killed) and, as a last resort, after BENCH_LIFETIME_MS. Same pid as the process it
 * guards, so /proc/<pid> figures stay that process's own; no code in src/ is involved.
 */
import cluster from 'node:cluster';

if (process.channel) {
  // The driver keeps its channel referenced (it waits for jobs on it); servers have their own handles.
  // A cluster worker needs its channel to the primary to get its listening socket.
  if (process.env.BENCH_KEEP_CHANNEL !== '1' && !cluster.isWorker) process.channel.unref();
  process.on('disconnect', () => process.exit(0));
}

const lifetimeMs = Number(process.env.BENCH_LIFETIME_MS);
if (lifetimeMs > 0) {
  setTimeout(() => {
    process.stderr.write(`bench: lifetime of ${lifetimeMs} ms exceeded, exiting\n`);
    process.exit(3);
  }, lifetimeMs).unref();
}
