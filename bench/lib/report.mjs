/**
 * Turns the raw samples of a run into figures per target, checks them against issue 5's targets,
 * and renders the table printed at the end (the same text goes into latest.json).
 */
import { fmt, summarize, table } from './stats.mjs';

const failuresOf = (t) => t.non2xx + t.errors + t.bad;
const answered = (t) => t.ok + t.non2xx + t.bad;
const perRequestUs = (cpuMs, tally) => (answered(tally) > 0 ? (cpuMs * 1000) / answered(tally) : NaN);

function failureDetail(tally) {
  const parts = [];
  for (const [status, n] of Object.entries(tally.statuses)) parts.push(`${n}× HTTP ${status}`);
  for (const [code, n] of Object.entries(tally.errorCodes)) parts.push(`${n}× ${code}`);
  for (const [problem, n] of Object.entries(tally.problems)) parts.push(`${n}× ${problem}`);
  return parts.join(', ');
}

/** Figures per target and phase from the accumulated samples. */
export function summarizeRun(targets, acc, open) {
  const out = {};
  for (const t of targets) {
    const a = acc[t.name];
    const fixed = summarize(a.fixed.lat);
    const sat = summarize(a.saturate.lat);
    const ttfc = summarize(a.ttfc.ttfc);
    const lags = summarize(a.ttfc.lags);
    out[t.name] = {
      fixed: {
        requests: a.fixed.tally.sent,
        latencyMs: fixed,
        roundP50Ms: a.fixed.rounds.map((r) => r.p50),
        roundCpuUsPerRequest: a.fixed.rounds.map((r) => r.cpuUsPerRequest),
        achievedRate: a.fixed.tally.sent / a.fixed.seconds,
        sendLateMs: summarize(a.fixed.late),
        cpuUsPerRequest: perRequestUs(a.fixed.cpuMs, a.fixed.tally),
        upstreamPerRequest: a.fixed.upstream / Math.max(1, a.fixed.tally.sent),
        failures: failuresOf(a.fixed.tally),
        failureDetail: failureDetail(a.fixed.tally),
      },
      saturate: {
        requests: a.saturate.tally.ok,
        reqPerSec: a.saturate.tally.ok / a.saturate.seconds,
        roundReqPerSec: a.saturate.rounds.map((r) => r.rate),
        roundCpuUsPerRequest: a.saturate.rounds.map((r) => r.cpuUsPerRequest),
        roundForeignCpuPct: a.saturate.rounds.map((r) => r.foreignCpuPct),
        latencyMs: sat,
        cpuUsPerRequest: perRequestUs(a.saturate.cpuMs, a.saturate.tally),
        mockCpuUsPerRequest: perRequestUs(a.saturate.mockCpuMs, a.saturate.tally),
        loadgenCpuPct: (100 * a.saturate.driverCpuMs) / a.saturate.driverWallMs,
        upstreamPerRequest: a.saturate.upstream / Math.max(1, a.saturate.tally.sent),
        failures: failuresOf(a.saturate.tally),
        failureDetail: failureDetail(a.saturate.tally),
      },
      ttfc: {
        streams: a.ttfc.tally.sent,
        firstChunkMs: ttfc,
        roundP50Ms: a.ttfc.rounds.map((r) => r.p50),
        totalMs: summarize(a.ttfc.total),
        chunkLagMs: lags,
        failures: failuresOf(a.ttfc.tally),
        failureDetail: failureDetail(a.ttfc.tally),
      },
      streams: {
        streams: a.streams.tally.ok,
        perSec: a.streams.tally.ok / a.streams.seconds,
        roundPerSec: a.streams.rounds.map((r) => r.rate),
        roundCpuUsPerStream: a.streams.rounds.map((r) => r.cpuUsPerRequest),
        cpuUsPerStream: perRequestUs(a.streams.cpuMs, a.streams.tally),
        loadgenCpuPct: (100 * a.streams.driverCpuMs) / a.streams.driverWallMs,
        failures: failuresOf(a.streams.tally),
        failureDetail: failureDetail(a.streams.tally),
      },
      open: open[t.name],
    };
  }
  const direct = out.direct;
  const floor = out.floor;
  for (const name of Object.keys(out)) {
    const s = out[name];
    if (name !== 'direct') {
      s.fixed.addedP50Ms = s.fixed.latencyMs.p50 - direct.fixed.latencyMs.p50;
      s.fixed.addedP99Ms = s.fixed.latencyMs.p99 - direct.fixed.latencyMs.p99;
      s.ttfc.addedP50Ms = s.ttfc.firstChunkMs.p50 - direct.ttfc.firstChunkMs.p50;
      s.ttfc.addedP99Ms = s.ttfc.firstChunkMs.p99 - direct.ttfc.firstChunkMs.p99;
      s.ttfc.addedLagP50Ms = s.ttfc.chunkLagMs.p50 - direct.ttfc.chunkLagMs.p50;
      s.ttfc.addedLagP99Ms = s.ttfc.chunkLagMs.p99 - direct.ttfc.chunkLagMs.p99;
    }
    s.saturate.vsDirect = s.saturate.reqPerSec / direct.saturate.reqPerSec;
    s.saturate.vsFloor = floor ? s.saturate.reqPerSec / floor.saturate.reqPerSec : NaN;
  }
  return out;
}

/** Issue 5's targets, each with the measured value and whether it holds. */
export function checkTargets(s, plan) {
  const cp = s.cliproxy;
  const floor = s.floor;
  const checks = [];
  const add = (ok, label, value) => checks.push({ ok, label, value });
  const satRatio = cp.saturate.vsFloor;
  const perRound = cp.saturate.roundReqPerSec.map((v, i) => v / floor.saturate.roundReqPerSec[i]);
  add(
    satRatio >= 0.8,
    'saturation req/s ≥ 0.8 × floor',
    `${fmt(satRatio)} × floor (${fmt(cp.saturate.reqPerSec, 0)} vs ${fmt(floor.saturate.reqPerSec, 0)} req/s; rounds ${fmt(Math.min(...perRound))}–${fmt(Math.max(...perRound))})`,
  );
  add(cp.fixed.cpuUsPerRequest <= 300, `CPU per non-stream request ≤ 300 µs (at ${plan.fixed.rate} req/s)`, `${fmt(cp.fixed.cpuUsPerRequest, 0)} µs`);
  add(cp.saturate.cpuUsPerRequest <= 300, 'CPU per non-stream request ≤ 300 µs (at saturation)', `${fmt(cp.saturate.cpuUsPerRequest, 0)} µs`);
  const overFloor = cp.fixed.addedP50Ms - floor.fixed.addedP50Ms;
  add(overFloor <= 0.2, `added p50 at ${plan.fixed.rate} req/s ≤ floor's + 0.2 ms`, `${fmt(cp.fixed.addedP50Ms, 3, { sign: true })} ms vs floor ${fmt(floor.fixed.addedP50Ms, 3, { sign: true })} ms (${fmt(overFloor, 3, { sign: true })} ms)`);
  add(cp.ttfc.addedP50Ms <= 1, 'added time-to-first-chunk p50 ≤ 1 ms', `${fmt(cp.ttfc.addedP50Ms, 3, { sign: true })} ms`);
  // A proxy that held each chunk until the next one arrived would add a whole interval to the lag.
  const interval = plan.ttfc.mode.delayMs;
  add(
    cp.ttfc.addedLagP50Ms < interval / 2,
    `no chunk held back (added chunk lag p50 < ${interval / 2} ms, chunks ${interval} ms apart)`,
    `${fmt(cp.ttfc.addedLagP50Ms, 3, { sign: true })} ms (p99 ${fmt(cp.ttfc.addedLagP99Ms, 3, { sign: true })} ms)`,
  );
  // Issue 19: relative to the floor, in the same run.
  const cpuRatio = cp.fixed.cpuUsPerRequest / floor.fixed.cpuUsPerRequest;
  add(cpuRatio <= 1.5, `CPU per request at ${plan.fixed.rate} req/s ≤ 1.5 × floor's`, `${fmt(cpuRatio)} × (${fmt(cp.fixed.cpuUsPerRequest, 0)} vs ${fmt(floor.fixed.cpuUsPerRequest, 0)} µs)`);
  const ttfcOver = cp.ttfc.addedP50Ms - floor.ttfc.addedP50Ms;
  add(ttfcOver <= 0.3, "added time-to-first-chunk p50 ≤ floor's + 0.3 ms", `${fmt(cp.ttfc.addedP50Ms, 3, { sign: true })} ms vs floor ${fmt(floor.ttfc.addedP50Ms, 3, { sign: true })} ms (${fmt(ttfcOver, 3, { sign: true })} ms)`);
  const o = cp.open;
  if (floor.open) {
    const rssRatio = o.peakRssMb / floor.open.peakRssMb;
    add(rssRatio <= 1.5, `peak RSS with ${plan.open.count} streams ≤ 1.5 × floor's`, `${fmt(rssRatio)} × (${fmt(o.peakRssMb, 1)} vs ${fmt(floor.open.peakRssMb, 1)} MB)`);
  }
  const allOpen = o.peakOpen >= plan.open.count;
  // Issue 5: 1,000 streams in 150 MB; issue 19: 10,000 in 400 MB.
  const rssLimit = plan.open.count <= 1000 ? 150 : 400;
  add(
    allOpen && o.peakRssMb <= rssLimit && o.failures === 0,
    `${plan.open.count} concurrent streams, RSS ≤ ${rssLimit} MB`,
    `peak ${fmt(o.peakRssMb, 1)} MB with ${o.peakOpen} of ${plan.open.count} streams open at once${o.failures ? `, ${o.failures} failed` : ''} (the saturation rounds peaked at ${fmt(o.roundsPeakRssMb, 1)} MB)`,
  );
  const total = ['fixed', 'saturate', 'ttfc', 'streams'].reduce((n, p) => n + cp[p].failures, 0) + o.failures;
  add(total === 0, 'no non-2xx, errors or incomplete streams through cliproxy', `${total}`);
  return checks;
}

/** The printed report: machine line, four tables, target checks, failures. */
export function renderReport({ summary, targets, plan, machine, checks }) {
  const names = targets.map((t) => t.name);
  const cpuCell = (name, v) => (name === 'direct' ? `(mock ${fmt(v, 0)})` : fmt(v, 0));
  const lines = [];
  lines.push(
    `cliproxy overhead benchmark: ${plan.quick ? 'quick' : 'full'} run, ${plan.rounds} interleaved rounds, ${machine.date}`,
    `machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.os}, node ${machine.node}; cliproxy at ${machine.source.commit}${machine.source.srcDirty ? ' + uncommitted src/ changes' : ''}${plan.cli ? ` (${plan.cli})` : ''}`,
    `load generator: its own process (bench/driver.mjs: undici for paced runs, autocannon for saturation), sharing the ${machine.cpus} cores with the targets`,
    `request: chat completion, messages before model (as openai-python sends it), ${plan.bodyKb ? `padded by ~${plan.bodyKb} KB of earlier turns` : '~0.3 KB'}; answer ~1 KB`,
    '',
    `Non-stream, fixed offered load ${plan.fixed.rate} req/s (open loop, evenly paced; latency timed per request, sub-ms)`,
  );
  lines.push(
    table(
      ['target', 'p50 ms', 'p99 ms', 'added p50', 'added p99', 'CPU µs/req', 'failures'],
      names.map((n) => {
        const f = summary[n].fixed;
        return [n, fmt(f.latencyMs.p50, 3), fmt(f.latencyMs.p99, 3), fmt(f.addedP50Ms, 3, { sign: true }), fmt(f.addedP99Ms, 3, { sign: true }), cpuCell(n, f.cpuUsPerRequest), f.failures];
      }),
    ),
  );
  lines.push('', `Non-stream, saturation (${plan.saturate.connections} connections, autocannon)`);
  lines.push(
    table(
      ['target', 'req/s', '× direct', '× floor', 'p50 ms', 'p99 ms', 'CPU µs/req', 'loadgen CPU', 'failures'],
      names.map((n) => {
        const f = summary[n].saturate;
        return [n, fmt(f.reqPerSec, 0), fmt(f.vsDirect), fmt(f.vsFloor), fmt(f.latencyMs.p50, 3), fmt(f.latencyMs.p99, 3), cpuCell(n, f.cpuUsPerRequest), `${fmt(f.loadgenCpuPct, 0)} %`, f.failures];
      }),
    ),
  );
  lines.push(
    '',
    `Streams of ${plan.ttfc.mode.chunks} chunks: first chunk at ${plan.ttfc.rate} streams/s (chunks ${plan.ttfc.mode.delayMs} ms apart); streams/s with ${plan.streams.connections} connections (no delay)`,
  );
  lines.push(
    table(
      ['target', 'TTFC p50', 'TTFC p99', 'added p50', 'added p99', 'lag p50', 'lag p99', 'streams/s', 'CPU µs/stream', 'failures'],
      names.map((n) => {
        const f = summary[n].ttfc;
        const st = summary[n].streams;
        return [
          n,
          fmt(f.firstChunkMs.p50, 3),
          fmt(f.firstChunkMs.p99, 3),
          fmt(f.addedP50Ms, 3, { sign: true }),
          fmt(f.addedP99Ms, 3, { sign: true }),
          fmt(f.chunkLagMs.p50, 3),
          fmt(f.chunkLagMs.p99, 3),
          fmt(st.perSec, 0),
          cpuCell(n, st.cpuUsPerStream),
          f.failures + st.failures,
        ];
      }),
    ),
  );
  const openNames = names.filter((n) => summary[n].open);
  lines.push(
    '',
    `${plan.open.count} concurrent streams (${plan.open.mode.chunks} chunks ${plan.open.mode.delayMs} ms apart, opened at ${plan.open.rate}/s over ${plan.open.rampMs} ms), each proxy in a fresh process; RSS in MB`,
  );
  lines.push(
    table(
      ['target', 'peak open', 'RSS idle', 'peak RSS', 'TTFC p50 ms', 'TTFC p99 ms', 'failures', 'peak RSS in the rounds'],
      openNames.map((n) => {
        const o = summary[n].open;
        return [n, o.peakOpen, fmt(o.idleRssMb, 1), fmt(o.peakRssMb, 1), fmt(o.firstChunkMs.p50, 1), fmt(o.firstChunkMs.p99, 1), o.failures, fmt(o.roundsPeakRssMb, 1)];
      }),
    ),
  );
  lines.push('', 'Targets (issues 5 and 19), measured in this run:');
  for (const c of checks) lines.push(`  [${c.ok ? 'PASS' : 'FAIL'}] ${c.label}: ${c.value}`);
  const failed = [];
  for (const n of names) {
    for (const phase of ['fixed', 'saturate', 'ttfc', 'streams', 'open']) {
      const f = summary[n][phase];
      if (f?.failures) failed.push(`  ${n} ${phase}: ${f.failures} (${f.failureDetail})`);
    }
  }
  lines.push('', failed.length ? `Failures (non-2xx, transport errors, wrong bodies, streams without [DONE]):\n${failed.join('\n')}` : 'Failures: none (every answer 2xx and complete; every stream had all its chunks and ended with [DONE])');
  lines.push(
    '',
    'Notes: "added" = target minus direct, same run. lag = time from the mock writing a chunk to the client reading it.',
    'CPU = utime+stime of the target process (/proc/<pid>/stat) per answered request;',
    'for direct it is the mock upstream itself. loadgen CPU = the load generator\'s CPU time / wall time (100 % = one full core).',
    `Other processes on the machine used ${fmt(machine.foreignCpu?.avgPct, 0)} % of a core on average during the measurements (worst segment ${fmt(machine.foreignCpu?.worstSegmentPct, 0)} %).`,
  );
  if (machine.foreignCpu?.avgPct > 20) {
    lines.push(`WARNING: other processes competed for the ${machine.cpus} cores during this run; the figures are not reliable. Rerun on a quieter machine.`);
  }
  return lines.join('\n');
}

