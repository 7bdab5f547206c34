#!/usr/bin/env node
/**
 * Profiles cliproxy under the saturation load: starts the mock upstream and the built cliproxy
 * with `node --cpu-prof`, warms up, drives 50 connections for a while (non-stream, or streams with
 * --stream), stops cliproxy (SIGTERM: it drains and exits, which writes the profile) and prints the
 * functions with the most self time and the time per area (cliproxy's src/, undici, node internals,
 * GC). The .cpuprofile (open it in Chrome DevTools or speedscope) and a JSON summary land in
 * bench/results/ (both gitignored).
 *
 *   node bench/profile.mjs [--seconds 10] [--stream] [--connections 50] [--body-kb N] [--target floor]
 *
 * `--target floor` profiles the floor proxy instead, to compare where the two spend their time;
 * `--analyse FILE.cpuprofile` only prints the summary of an existing profile.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDriver } from './lib/driver-client.mjs';
import { startCliproxy, startScript, stopAll, stopChild } from './lib/procs.mjs';
import { requestBody } from './lib/request.mjs';
import { fmt, table } from './lib/stats.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results');

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    stream: { type: 'boolean', default: false },
    top: { type: 'string', default: '30' },
    target: { type: 'string', default: 'cliproxy' },
    analyse: { type: 'string' },
    'body-kb': { type: 'string', default: '0' },
  },
});

const OWN_DIST = `${ROOT.replace(/\/$/, '')}/dist/`;

/** Where a profiled function lives: cliproxy's own code (mapped back to src/), a dependency, or node. */
function area(url, functionName) {
  // The socket write syscall; a sampling profiler counts its wall time, loopback TCP included.
  if (functionName === 'writev' || functionName === 'writeUtf8String' || functionName === 'writeBuffer') return '(socket write syscalls)';
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dep) return dep[1];
  if (url.startsWith('node:')) return 'node internals';
  if (url.replace(/^file:\/\//, '').startsWith(OWN_DIST)) return 'cliproxy src/';
  return 'other';
}

function where(url, line) {
  if (!url) return '';
  const dep = /node_modules\/(.+)$/.exec(url);
  if (dep) return `${dep[1]}:${line + 1}`;
  const own = url.replace(/^file:\/\//, '');
  if (own.startsWith(OWN_DIST)) return `src/${own.slice(OWN_DIST.length).replace(/\.js$/, '.ts')} (dist line ${line + 1})`;
  return `${own}:${line + 1}`;
}

/** Self and inclusive time per function, and self time per area, from a V8 .cpuprofile. */
export function analyse(profile) {
  const byId = new Map();
  const parent = new Map();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const keyOf = (node) => {
    const f = node.callFrame;
    return `${f.functionName || '(anonymous)'}\u0000${f.url}\u0000${f.lineNumber}`;
  };
  const fns = new Map();
  const areas = new Map();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(profile.samples[i]);
    if (!node) continue;
    total += dt;
    const f = node.callFrame;
    if (f.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    const a = area(f.url, f.functionName);
    areas.set(a, (areas.get(a) ?? 0) + dt);
    const seen = new Set();
    for (let id = node.id, self = true; id !== undefined; id = parent.get(id), self = false) {
      const n = byId.get(id);
      const key = keyOf(n);
      let entry = fns.get(key);
      if (!entry) {
        const cf = n.callFrame;
        entry = { name: cf.functionName || '(anonymous)', where: where(cf.url, cf.lineNumber), area: area(cf.url, cf.functionName), self: 0, inclusive: 0 };
        fns.set(key, entry);
      }
      if (self) entry.self += dt;
      if (!seen.has(key)) {
        entry.inclusive += dt;
        seen.add(key);
      }
    }
  }
  const busy = total - idle;
  const pct = (us) => (100 * us) / busy;
  const list = [...fns.values()].filter((e) => e.name !== '(root)').map((e) => ({ ...e, selfPct: pct(e.self), inclusivePct: pct(e.inclusive) }));
  return {
    sampledMs: total / 1000,
    busyMs: busy / 1000,
    areas: [...areas.entries()].map(([name, us]) => ({ area: name, selfPct: pct(us) })).sort((a, b) => b.selfPct - a.selfPct),
    bySelf: [...list].sort((a, b) => b.self - a.self),
    ownByInclusive: list.filter((e) => e.area === 'cliproxy src/').sort((a, b) => b.inclusive - a.inclusive),
  };
}

async function main() {
  const seconds = Number(args.seconds);
  const lifetimeMs = (seconds + 60) * 1000;
  const mock = await startScript(new URL('./mock-upstream.mjs', import.meta.url), [], { name: 'mock', lifetimeMs });
  const dir = mkdtempSync(join(os.tmpdir(), 'cliproxy-profile-'));
  writeFileSync(
    join(dir, 'config.yaml'),
    `api-keys: ["bench-key"]
openai-compatibility:
  - name: "mock"
    base-url: "http://127.0.0.1:${mock.port}/v1"
    api-key-entries: [{ api-key: "sk-bench-key-one-000000000001" }, { api-key: "sk-bench-key-two-000000000002" }, { api-key: "sk-bench-key-three-00000000003" }]
    models: [{ name: "mock-model-a", alias: "bench-model" }, { name: "mock-model-b", alias: "bench-model" }]
`,
  );
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const label = `${args.target}-${args.stream ? 'stream' : 'nonstream'}`;
  const name = `${label}-${stamp}.cpuprofile`;
  const nodeArgs = ['--cpu-prof', '--cpu-prof-dir', RESULTS, '--cpu-prof-name', name];
  let target;
  if (args.target === 'floor') {
    target = await startScript(new URL('./floor-proxy.mjs', import.meta.url), ['--upstream', `http://127.0.0.1:${mock.port}`], { name: 'floor', lifetimeMs, nodeArgs });
  } else if (args.target === 'cliproxy') {
    target = await startCliproxy({ cli: join(ROOT, 'dist', 'cli.js'), configPath: join(dir, 'config.yaml'), lifetimeMs, cwd: dir, nodeArgs });
  } else {
    throw new Error(`--target: expected cliproxy or floor, got ${args.target}`);
  }
  const driver = await startDriver(lifetimeMs);
  const job = {
    type: 'saturate',
    url: `http://127.0.0.1:${target.port}/v1/chat/completions`,
    headers: { 'content-type': 'application/json', authorization: 'Bearer bench-key' },
    body: requestBody('bench-model', args.stream, Number(args['body-kb'])),
    connections: Number(args.connections),
    stream: args.stream,
    expectChunks: 20,
    timeoutMs: 10_000,
  };
  process.stderr.write(`profile: warming up, then ${seconds} s of ${args.stream ? 'streams' : 'non-stream requests'} over ${job.connections} connections\n`);
  await driver.run({ ...job, seconds: 2 }, 60_000);
  const r = await driver.run({ ...job, seconds }, (seconds + 60) * 1000);
  process.stderr.write(`profile: ${Math.round(r.tally.ok / r.seconds)} req/s, ${r.tally.non2xx + r.tally.errors + r.tally.bad} failures; stopping ${args.target}\n`);
  await stopChild(target.child, 40_000);
  stopAll();
  rmSync(dir, { recursive: true, force: true });

  const file = readdirSync(RESULTS).find((f) => f === name);
  if (!file) throw new Error(`no profile written to ${RESULTS}/${name}`);
  const result = analyse(JSON.parse(readFileSync(join(RESULTS, file), 'utf8')));
  const title = `${args.target} CPU profile, ${args.stream ? 'streams' : 'non-stream'} saturation, ${Math.round(r.tally.ok / r.seconds)} req/s`;
  process.stdout.write(`${render(result, title)}\n\nprofile: ${join(RESULTS, file)}\n`);
  const summaryFile = join(RESULTS, `profile-${label}.json`);
  writeFileSync(summaryFile, `${JSON.stringify({ reqPerSec: r.tally.ok / r.seconds, profile: file, ...result, bySelf: result.bySelf.slice(0, 100) }, null, 2)}\n`);
}

function render(result, title) {
  const top = Number(args.top);
  const out = [];
  out.push(`${title}; busy ${fmt(result.busyMs, 0)} ms of ${fmt(result.sampledMs, 0)} ms sampled`);
  out.push('', 'Self time by area (% of busy time):');
  out.push(table(['area', 'self %'], result.areas.map((a) => [a.area, fmt(a.selfPct, 1)])));
  out.push('', `Top ${top} functions by self time:`);
  out.push(table(['function', 'self %', 'incl %', 'where'], result.bySelf.slice(0, top).map((e) => [e.name, fmt(e.selfPct, 1), fmt(e.inclusivePct, 1), e.where])));
  out.push('', 'cliproxy functions by inclusive time:');
  out.push(table(['function', 'incl %', 'self %', 'where'], result.ownByInclusive.slice(0, top).map((e) => [e.name, fmt(e.inclusivePct, 1), fmt(e.selfPct, 1), e.where])));
  return out.join('\n');
}

process.once('exit', stopAll);
const run = args.analyse
  ? async () => process.stdout.write(`${render(analyse(JSON.parse(readFileSync(args.analyse, 'utf8'))), args.analyse)}\n`)
  : main;
run().catch((err) => {
  process.stderr.write(`profile: ${err.stack ?? err}\n`);
  stopAll();
  process.exit(1);
});
