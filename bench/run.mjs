#!/usr/bin/env node
/**
 * `npm run bench [-- --quick] [--peer-url URL ...]`: what cliproxy costs over talking to the
 * upstream directly, next to the floor (the thinnest Node pass-through proxy) and, optionally, a
 * peer gateway, all against one loopback mock upstream on this machine.
 *
 * Each process is its own: mock upstream, floor, cliproxy (the built dist/), load generator. The
 * measurements run in interleaved rounds (every round visits every target, in a rotated order) so
 * that drift of a shared machine hits all targets alike. Prints one table, writes
 * bench/results/latest.json. All traffic stays on loopback; everything stops by itself.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDriver } from './lib/driver-client.mjs';
import { HELP, parsePlan } from './lib/plan.mjs';
import { requestBody } from './lib/request.mjs';
import { cpuMs, machineBusyMs, memoryMb, resetPeak, startCliproxy, startScript, stopAll, stopChild, treeCpuMs } from './lib/procs.mjs';
import { checkTargets, renderReport, summarizeRun } from './lib/report.mjs';
import { apiScenarios, renderApis, runApiScenarios } from './lib/apis.mjs';
import { median, roundAll, summarize } from './lib/stats.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const log = (text) => process.stderr.write(`${text}\n`);

const CLIENT_KEY = 'bench-key';

/** cliproxy's config: one provider on the mock with three keys and a two-model pool. */
function cliproxyConfig(mockBase) {
  return `# written by bench/run.mjs
api-keys:
  - "${CLIENT_KEY}"
openai-compatibility:
  - name: "mock"
    base-url: "${mockBase}/v1"
    api-key-entries:
      - api-key: "sk-bench-key-one-000000000001"
      - api-key: "sk-bench-key-two-000000000002"
      - api-key: "sk-bench-key-three-00000000003"
    models:
      - name: "mock-model-a"
        alias: "bench-model"
      - name: "mock-model-b"
        alias: "bench-model"
`;
}

/** The commit measured, and whether src/ had uncommitted changes (dist/ is built from the tree). */
function sourceState() {
  try {
    const git = (...args) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return { commit: git('rev-parse', '--short', 'HEAD'), srcDirty: git('status', '--porcelain', '--', 'src') !== '' };
  } catch {
    return { commit: 'unknown', srcDirty: false };
  }
}

/**
 * A proxy holds two sockets per open stream (client and upstream): with the open-files limit at N,
 * no proxy process can hold more than about N / 2 streams, whatever it does.
 */
function warnIfTooFewFiles(streams) {
  try {
    const limit = Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]);
    if (limit && 2 * streams + 100 > limit) {
      log(`bench: the open-files limit is ${limit}; a proxy needs 2 per stream, so at most ~${Math.floor((limit - 100) / 2)} of ${streams} streams can be open at once (raise it: ulimit -n)`);
    }
  } catch {
    /* not Linux */
  }
}

function headersFor(target) {
  const headers = { 'content-type': 'application/json' };
  if (target.key) headers.authorization = `Bearer ${target.key}`;
  return headers;
}

async function mockCall(mockBase, path, body) {
  const res = await fetch(`${mockBase}${path}`, body ? { method: 'POST', body: JSON.stringify(body) } : undefined);
  if (!res.ok) throw new Error(`mock ${path}: HTTP ${res.status}`);
  return res.json();
}

function newTally() {
  return { sent: 0, ok: 0, non2xx: 0, errors: 0, bad: 0, statuses: {}, problems: {}, errorCodes: {} };
}

function mergeTally(into, from) {
  for (const k of ['sent', 'ok', 'non2xx', 'errors', 'bad']) into[k] += from[k];
  for (const k of ['statuses', 'problems', 'errorCodes']) for (const [key, n] of Object.entries(from[k])) into[k][key] = (into[k][key] ?? 0) + n;
}

const newAcc = () => ({ lat: [], ttfc: [], total: [], lags: [], late: [], rounds: [], tally: newTally(), seconds: 0, cpuMs: 0, mockCpuMs: 0, driverCpuMs: 0, driverWallMs: 0, upstream: 0 });
const pushAll = (into, values) => {
  if (values) for (const v of values) into.push(v);
};

const PHASES = ['fixed', 'saturate', 'ttfc', 'streams'];

async function main() {
  let plan;
  try {
    plan = parsePlan(process.argv.slice(2));
  } catch (err) {
    log(`bench: ${err.message}\n\n${HELP}`);
    process.exit(1);
  }
  if (plan.help) return void process.stdout.write(HELP);
  const CLI = resolve(plan.cli ?? join(ROOT, 'dist', 'cli.js'));
  if (!existsSync(CLI)) {
    log(`bench: ${CLI} not found; run \`npm run build\` first`);
    process.exit(1);
  }
  if (plan.workers !== undefined) {
    const { runWorkersBench } = await import('./workers.mjs');
    return runWorkersBench(plan, CLI, (dir) => (tmpDir = dir));
  }
  const targetCount = plan.peer ? 4 : 3;
  // Plus the memory phase (per proxy: ramp, stream life, margin) and the client-API rounds.
  const openPhaseMs = (plan.open.rampMs + plan.open.mode.chunks * plan.open.mode.delayMs + 15_000) * (targetCount - 1);
  const budgetMs = (plan.quick ? 150_000 : 900_000) * (targetCount / 3) + openPhaseMs + plan.rounds * 4 * (plan.saturate.seconds + 5) * 1000;
  warnIfTooFewFiles(plan.open.count);
  const lifetimeMs = budgetMs + 30_000;
  const watchdog = setTimeout(() => {
    log(`bench: time budget of ${budgetMs / 1000} s exceeded; stopping everything`);
    cleanup();
    process.exit(2);
  }, budgetMs);
  const startedAt = Date.now();

  const machine = {
    date: new Date().toISOString(),
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    loadavgAtStart: os.loadavg(),
    source: sourceState(),
  };

  log(`bench: ${plan.quick ? 'quick' : 'full'} run, ${plan.rounds} rounds; starting mock upstream, floor, cliproxy and load generator`);
  const mock = await startScript(new URL('./mock-upstream.mjs', import.meta.url), ['--port', String(plan.mockPort)], { name: 'mock', lifetimeMs });
  const mockBase = `http://127.0.0.1:${mock.port}`;
  const floor = await startScript(new URL('./floor-proxy.mjs', import.meta.url), ['--upstream', mockBase], { name: 'floor', lifetimeMs });
  const dir = (tmpDir = mkdtempSync(join(os.tmpdir(), 'cliproxy-bench-')));
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, cliproxyConfig(mockBase));
  const cp = await startCliproxy({ cli: CLI, configPath, lifetimeMs, cwd: dir });
  const driver = await startDriver(lifetimeMs);

  const targets = [
    { name: 'direct', base: `${mockBase}/v1`, pid: mock.pid, model: 'bench-model', key: CLIENT_KEY },
    { name: 'floor', base: `http://127.0.0.1:${floor.port}/v1`, pid: floor.pid, model: 'bench-model', key: CLIENT_KEY },
    { name: 'cliproxy', base: `http://127.0.0.1:${cp.port}/v1`, pid: cp.pid, model: 'bench-model', key: CLIENT_KEY },
  ];
  if (plan.peer) targets.push({ ...plan.peer });
  log(`  mock ${mockBase} (pid ${mock.pid}), floor :${floor.port} (pid ${floor.pid}), cliproxy :${cp.port} (pid ${cp.pid}), load generator pid ${driver.pid}`);

  const jobFor = (phase, target) => {
    const common = { url: `${target.base}/chat/completions`, headers: headersFor(target), timeoutMs: 10_000 };
    const body = (stream) => requestBody(target.model, stream, plan.bodyKb);
    switch (phase) {
      case 'fixed':
        return { ...common, type: 'fixed', rate: plan.fixed.rate, seconds: plan.fixed.seconds, stream: false, body: body(false), maxInflight: 2000 };
      case 'saturate':
        return { ...common, type: 'saturate', connections: plan.saturate.connections, seconds: plan.saturate.seconds, stream: false, body: body(false) };
      case 'ttfc':
        return { ...common, type: 'fixed', rate: plan.ttfc.rate, seconds: plan.ttfc.seconds, stream: true, expectChunks: plan.ttfc.mode.chunks, body: body(true), maxInflight: 2000 };
      case 'streams':
        return { ...common, type: 'saturate', connections: plan.streams.connections, seconds: plan.streams.seconds, stream: true, expectChunks: plan.streams.mode.chunks, body: body(true) };
      default:
        throw new Error(`unknown phase ${phase}`);
    }
  };
  const modeOf = { fixed: undefined, saturate: undefined, ttfc: plan.ttfc.mode, streams: plan.streams.mode };
  const setMode = (mode) => mockCall(mockBase, '/_bench/mode', mode);
  /** A new process of the same proxy (floor or cliproxy); undefined for a peer (measured in place). */
  const startFresh = (t) => {
    if (t.name === 'floor') return startScript(new URL('./floor-proxy.mjs', import.meta.url), ['--upstream', mockBase], { name: 'floor (fresh)', lifetimeMs });
    if (t.name === 'cliproxy') return startCliproxy({ cli: CLI, configPath, lifetimeMs, cwd: dir, logFile: join(dir, 'cliproxy-fresh.log') });
    return undefined;
  };

  // Sanity: one answer and one stream through every target, or stop here with the reason.
  await setMode(plan.ttfc.mode);
  for (const t of targets) {
    for (const phase of ['fixed', 'ttfc']) {
      const r = await driver.run({ ...jobFor(phase, t), rate: 10, seconds: 0.3 }, 30_000);
      if (r.tally.ok !== r.tally.sent) {
        throw new Error(`${t.name} fails a ${phase === 'fixed' ? 'non-stream request' : 'stream'}: ${JSON.stringify(r.tally)}`);
      }
    }
  }

  // Warm-up: JIT, connection pools, undici's keep-alive sockets. Not recorded.
  for (const t of targets) {
    await driver.run({ ...jobFor('saturate', t), seconds: plan.warmSeconds }, 60_000);
    await setMode(plan.streams.mode);
    await driver.run({ ...jobFor('streams', t), seconds: plan.warmSeconds / 2 }, 60_000);
  }

  const acc = Object.fromEntries(targets.map((t) => [t.name, Object.fromEntries(PHASES.map((p) => [p, newAcc()]))]));
  const ours = [process.pid, mock.pid, floor.pid, cp.pid, driver.pid, plan.peer?.pid].filter(Boolean);
  const foreign = { ms: 0, wallMs: 0, worstPct: 0 };
  async function segment(target, phase) {
    const job = jobFor(phase, target);
    const stats0 = await mockCall(mockBase, '/_bench/stats');
    const cpu0 = target.pid ? treeCpuMs(target.pid) : NaN;
    const mock0 = cpuMs(mock.pid);
    const machine0 = machineBusyMs();
    const ours0 = ours.reduce((sum, pid) => sum + treeCpuMs(pid), 0);
    const wall0 = performance.now();
    const r = await driver.run(job, job.seconds * 1000 + 60_000);
    const wallMs = performance.now() - wall0;
    const foreignMs = Math.max(0, machineBusyMs() - machine0 - (ours.reduce((sum, pid) => sum + treeCpuMs(pid), 0) - ours0));
    foreign.ms += foreignMs;
    foreign.wallMs += wallMs;
    foreign.worstPct = Math.max(foreign.worstPct, (100 * foreignMs) / wallMs);
    const cpu1 = target.pid ? treeCpuMs(target.pid) : NaN;
    const mock1 = cpuMs(mock.pid);
    const stats1 = await mockCall(mockBase, '/_bench/stats');
    const a = acc[target.name][phase];
    mergeTally(a.tally, r.tally);
    pushAll(a.lat, r.lat);
    pushAll(a.ttfc, r.ttfc);
    pushAll(a.total, r.total);
    pushAll(a.lags, r.lags);
    pushAll(a.late, r.late);
    a.seconds += r.seconds;
    a.cpuMs += cpu1 - cpu0;
    a.mockCpuMs += mock1 - mock0;
    a.driverCpuMs += r.driverCpuMs;
    a.driverWallMs += r.driverWallMs;
    a.upstream += stats1.requests - stats0.requests;
    const answered = r.tally.ok + r.tally.non2xx + r.tally.bad;
    const round = {
      ok: r.tally.ok,
      seconds: r.seconds,
      rate: r.tally.ok / r.seconds,
      p50: median(phase === 'ttfc' ? r.ttfc : (r.lat ?? [])),
      cpuUsPerRequest: ((cpu1 - cpu0) * 1000) / Math.max(1, answered),
      loadgenCpuPct: (100 * r.driverCpuMs) / r.driverWallMs,
      foreignCpuPct: (100 * foreignMs) / wallMs,
    };
    a.rounds.push(round);
    return round;
  }

  for (let round = 0; round < plan.rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]);
    for (const phase of PHASES) {
      if (modeOf[phase]) await setMode(modeOf[phase]);
      const cells = [];
      for (const t of order) {
        const r = await segment(t, phase);
        cells.push(phase === 'saturate' || phase === 'streams' ? `${t.name} ${Math.round(r.rate)}/s` : `${t.name} p50 ${r.p50.toFixed(3)} ms`);
      }
      log(`  round ${round + 1}/${plan.rounds} ${phase.padEnd(8)} ${cells.join(', ')}`);
    }
  }

  // Each client API through cliproxy (translation cost next to chat completions).
  const apis = await runApiScenarios({
    driver,
    pid: cp.pid,
    scenarios: apiScenarios(`http://127.0.0.1:${cp.port}`, CLIENT_KEY, 'bench-model', requestBody('bench-model', false, plan.bodyKb)),
    rounds: plan.rounds,
    seconds: plan.saturate.seconds,
    connections: plan.saturate.connections,
    log,
  });

  // Many streams open at once, each proxy in a fresh process of its own: what 1,000 streams cost
  // in memory, apart from the heap the saturation rounds grew (shown beside it), and without the
  // burst leaving the round processes in another state (it slows a Node proxy afterwards).
  // Direct would only measure the mock.
  await setMode(plan.open.mode);
  const open = {};
  const lifeMs = plan.open.mode.chunks * plan.open.mode.delayMs;
  for (const t of targets.filter((x) => x.name !== 'direct')) {
    const roundsPeak = t.pid ? memoryMb(t.pid).hwm : NaN;
    const fresh = await startFresh(t);
    const pid = fresh?.pid ?? t.pid;
    const target = fresh ? { ...t, base: `http://127.0.0.1:${fresh.port}/v1`, pid } : t;
    // One request first, so the process has loaded what serving takes (lazy imports, pools).
    await driver.run({ ...jobFor('ttfc', target), rate: 5, seconds: 0.2 }, 30_000);
    const idle = pid ? memoryMb(pid).rss : NaN;
    const peakReset = pid ? resetPeak(pid) : false;
    let sampledPeak = idle;
    const sampler = pid ? setInterval(() => (sampledPeak = Math.max(sampledPeak, memoryMb(pid).rss)), 50) : undefined;
    const deadlineMs = plan.open.rampMs + lifeMs * 5 + 5_000;
    const job = { ...jobFor('ttfc', target), type: 'open', count: plan.open.count, rampMs: plan.open.rampMs, deadlineMs, expectChunks: plan.open.mode.chunks, timeoutMs: deadlineMs };
    const r = await driver.run(job, deadlineMs + 60_000);
    clearInterval(sampler);
    const after = pid ? memoryMb(pid) : undefined;
    if (fresh) await stopChild(fresh.child, 5_000);
    const failures = r.tally.non2xx + r.tally.errors + r.tally.bad;
    const detail = [
      ...Object.entries(r.tally.statuses).map(([s, n]) => `${n}× HTTP ${s}`),
      ...Object.entries(r.tally.errorCodes).map(([c, n]) => `${n}× ${c}`),
      ...Object.entries(r.tally.problems).map(([p, n]) => `${n}× ${p}`),
    ].join(', ');
    open[t.name] = {
      freshProcess: Boolean(fresh),
      streams: r.tally.sent,
      complete: r.tally.ok,
      peakOpen: r.peakOpen,
      seconds: r.seconds,
      idleRssMb: idle,
      sampledPeakRssMb: sampledPeak,
      // VmHWM since the reset just before this phase; without a reset, the sampled peak.
      peakRssMb: after ? (peakReset ? after.hwm : sampledPeak) : NaN,
      roundsPeakRssMb: roundsPeak,
      firstChunkMs: summarize(r.ttfc),
      failures,
      failureDetail: detail,
    };
    log(`  ${plan.open.count} streams via ${t.name}${fresh ? ' (fresh process)' : ''}: ${r.peakOpen} open at once, peak RSS ${open[t.name].peakRssMb?.toFixed(1)} MB, ${failures} failures`);
  }

  machine.foreignCpu = { avgPct: (100 * foreign.ms) / foreign.wallMs, worstSegmentPct: foreign.worstPct };
  const summary = summarizeRun(targets, acc, open);
  const checks = checkTargets(summary, plan);
  const report = `${renderReport({ summary, targets, plan, machine, checks })}\n\n${renderApis(apis, plan.saturate.connections)}`;
  process.stdout.write(`\n${report}\n`);

  const outFile = resolve(plan.out ?? join(ROOT, 'bench', 'results', 'latest.json'));
  mkdirSync(dirname(outFile), { recursive: true });
  const { help: _help, ...planOut } = plan;
  const result = { machine, plan: planOut, targets: targets.map(({ name, base, pid }) => ({ name, base, pid })), summary, apis, checks, report, seconds: (Date.now() - startedAt) / 1000 };
  writeFileSync(outFile, `${JSON.stringify(roundAll(result, 4), null, 2)}\n`);
  log(`\nbench: wrote ${outFile} (${Math.round((Date.now() - startedAt) / 1000)} s)`);

  clearTimeout(watchdog);
  stopAll();
}

/** Config and cliproxy's log of this run; removed on every way out. */
let tmpDir;
function cleanup() {
  stopAll();
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  tmpDir = undefined;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    cleanup();
    process.exit(130);
  });
}
process.once('exit', cleanup);

main().catch((err) => {
  log(`bench: ${err.stack ?? err}`);
  cleanup();
  process.exit(1);
});
