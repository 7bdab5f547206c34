/**
 * The processes of a run and what /proc says about them. Every child gets the lifeline preload
 * (exits with the runner, and after a lifetime cap); the runner also stops them itself on any exit.
 * CPU comes from /proc/<pid>/stat (utime + stime, the kernel's rusage), memory from
 * /proc/<pid>/status (VmRSS, VmHWM); nothing needs to run inside the measured process.
 */
import { execFileSync, fork, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const LIFELINE = pathToFileURL(fileURLToPath(new URL('./lifeline.mjs', import.meta.url))).href;

function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}
/** Kernel clock ticks per second (the unit of utime/stime). */
export const CLK_TCK = clockTicks();

const children = new Set();

/** Stops every child still running (SIGTERM; the lifeline and lifetime cap are the backstops). */
export function stopAll() {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  children.clear();
}

function track(child, name) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.name = name;
  return child;
}

function waitFor(child, name, timeoutMs, test) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited during startup (${signal ?? `code ${code}`})${child.tail ? `\n${child.tail()}` : ''}`));
    };
    child.once('exit', onExit);
    test((value) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve(value);
    });
  });
}

/** Keeps the last lines a child wrote, for error messages, and keeps its pipes drained. */
function keepTail(child) {
  let tail = '';
  const keep = (data) => {
    tail = (tail + data.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.tail = () => tail;
}

/**
 * Forks one of the bench's own scripts; resolves once it reports `{ready, port}` over IPC.
 * @returns {Promise<{child: import('node:child_process').ChildProcess, port?: number, pid: number}>}
 */
export async function startScript(script, args, { name, lifetimeMs, env = {}, nodeArgs = [] }) {
  const child = track(
    fork(fileURLToPath(script), args, {
      execArgv: [...nodeArgs, '--import', LIFELINE],
      env: { ...process.env, ...env, BENCH_LIFETIME_MS: String(lifetimeMs) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    }),
    name,
  );
  keepTail(child);
  const ready = await waitFor(child, name, 15_000, (done) => {
    const onMessage = (msg) => {
      if (msg?.ready) {
        child.off('message', onMessage);
        done(msg);
      }
    };
    child.on('message', onMessage);
  });
  return { child, port: ready.port, pid: child.pid };
}

/**
 * Starts the built cliproxy (`node dist/cli.js`) on port 0 and reads the port from its banner.
 * Its stdout/stderr go to `logFile` (as in a deployment that logs to a file), so nobody has to
 * read its per-request log lines through a pipe during the measurements. `nodeArgs` lets the
 * profiler add --cpu-prof.
 */
export async function startCliproxy({ cli, configPath, lifetimeMs, nodeArgs = [], args = [], cwd, logFile = join(cwd, 'cliproxy.log') }) {
  const fd = openSync(logFile, 'w');
  const child = track(
    spawn(process.execPath, [...nodeArgs, '--import', LIFELINE, resolvePath(cli), '--config', configPath, '--port', '0', '--host', '127.0.0.1', ...args], {
      cwd,
      env: { ...process.env, BENCH_LIFETIME_MS: String(lifetimeMs) },
      stdio: ['ignore', fd, fd, 'ipc'],
    }),
    'cliproxy',
  );
  closeSync(fd);
  const readLog = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  child.tail = () => readLog().slice(-4000);
  const port = await waitFor(child, 'cliproxy', 20_000, (done) => {
    const poll = setInterval(() => {
      const match = /listening on http:\/\/[^\s:]+:(\d+)/.exec(readLog());
      if (match) {
        clearInterval(poll);
        done(Number(match[1]));
      }
    }, 25);
    child.once('exit', () => clearInterval(poll));
  });
  return { child, port, pid: child.pid, logFile };
}

/** Stops one child and waits for it (SIGKILL after `graceMs`). */
export function stopChild(child, graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The pid and all its descendants (a peer gateway may run worker processes). */
export function processTree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const tid of readdirSync(`/proc/${out[i]}/task`)) {
        const kids = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (kids) for (const k of kids.split(/\s+/)) out.push(Number(k));
      }
    } catch {
      /* gone */
    }
  }
  return out;
}

/** CPU time (user + system) of a process in ms, from /proc/<pid>/stat; 0 if it is gone. */
export function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after "(comm)": state is field 3, so utime (14) and stime (15) are [11] and [12].
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** CPU ms summed over a process tree. */
export const treeCpuMs = (pid) => processTree(pid).reduce((sum, p) => sum + cpuMs(p), 0);

/** VmRSS and VmHWM (peak RSS since start or the last resetPeak) in MB, summed over the tree. */
export function memoryMb(pid) {
  let rss = 0;
  let hwm = 0;
  for (const p of processTree(pid)) {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      hwm += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    } catch {
      /* gone */
    }
  }
  return { rss, hwm };
}

/** Resets VmHWM to the current RSS (writing 5 to clear_refs); false where the kernel refuses. */
export function resetPeak(pid) {
  try {
    for (const p of processTree(pid)) writeFileSync(`/proc/${p}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU ms all processes on the machine were charged (all cores, /proc/stat), to tell how much others used. */
export function machineBusyMs() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system: what processes are charged for. irq/softirq time (loopback TCP's receive
  // path runs there) is charged to no process, ours included, so it is left out on both sides.
  const busy = fields[0] + fields[1] + fields[2];
  return (busy * 1000) / CLK_TCK;
}
