/**
 * `npm run bench -- --workers N`: saturation throughput of cliproxy with one process and with N
 * worker processes (`--workers N`) on the same port, against the loopback mock upstream, in
 * interleaved rounds. The mock and the load generator run on the same machine and take their
 * share of the cores, so on a 2-core machine N workers cannot reach N times one process.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { startDriver } from './lib/driver-client.mjs';
import { requestBody } from './lib/request.mjs';
import { startCliproxy, startScript, stopAll, stopChild, treeCpuMs } from './lib/procs.mjs';
import { median } from './lib/stats.mjs';

const KEY = 'bench-key';
const log = (text) => process.stderr.write(`${text}\n`);

const config = (mockBase) => `# written by bench/workers.mjs
api-keys:
  - "${KEY}"
openai-compatibility:
  - name: "mock"
    base-url: "${mockBase}/v1"
    api-key-entries:
      - api-key: "sk-bench-key-one-000000000001"
      - api-key: "sk-bench-key-two-000000000002"
    models:
      - name: "mock-model-a"
        alias: "bench-model"
`;

export async function runWorkersBench(plan, cli, keepDir) {
  const seconds = plan.quick ? 2 : 5;
  const rounds = plan.rounds;
  const lifetimeMs = (rounds * 2 * (seconds + 5) + 120) * 1000;
  const mock = await startScript(new URL('./mock-upstream.mjs', import.meta.url), ['--port', String(plan.mockPort)], { name: 'mock', lifetimeMs });
  const mockBase = `http://127.0.0.1:${mock.port}`;
  const dir = mkdtempSync(join(os.tmpdir(), 'cliproxy-bench-workers-'));
  keepDir(dir);
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, config(mockBase));
  const driver = await startDriver(lifetimeMs);
  const variants = [
    { name: '1 process', args: [] },
    { name: `${plan.workers} workers`, args: ['--workers', String(plan.workers)] },
  ];
  for (const v of variants) {
    v.proc = await startCliproxy({ cli, configPath, lifetimeMs, cwd: dir, args: v.args, logFile: join(dir, `${v.name.replace(/\s/g, '-')}.log`) });
    v.rates = [];
    v.cpuUs = [];
    v.failures = 0;
  }
  const job = (v, secs) => ({
    type: 'saturate',
    url: `http://127.0.0.1:${v.proc.port}/v1/chat/completions`,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    timeoutMs: 10_000,
    connections: plan.saturate.connections,
    seconds: secs,
    stream: false,
    body: requestBody('bench-model', false, plan.bodyKb),
  });
  log(`bench --workers: ${rounds} rounds of ${seconds} s per variant, ${plan.saturate.connections} connections, ${os.availableParallelism()} cores shared with the mock and the load generator`);
  for (const v of variants) await driver.run(job(v, plan.quick ? 1 : 2), 60_000); // warm-up
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [...variants].reverse() : variants;
    for (const v of order) {
      const cpu0 = treeCpuMs(v.proc.pid);
      const r = await driver.run(job(v, seconds), seconds * 1000 + 60_000);
      const cpu1 = treeCpuMs(v.proc.pid);
      v.rates.push(r.tally.ok / r.seconds);
      v.cpuUs.push(((cpu1 - cpu0) * 1000) / Math.max(1, r.tally.ok));
      v.failures += r.tally.sent - r.tally.ok;
      log(`  round ${round + 1}/${rounds} ${v.name}: ${Math.round(r.tally.ok / r.seconds)} req/s`);
    }
  }
  const base = median(variants[0].rates);
  const lines = [
    `Non-stream saturation (${plan.saturate.connections} connections), median of ${rounds} rounds; mock, load generator and cliproxy share ${os.availableParallelism()} cores`,
    'variant       req/s  × 1 process  CPU µs/req (all processes)  failures',
    '-----------  ------  -----------  --------------------------  --------',
    ...variants.map((v) => {
      const rate = median(v.rates);
      return `${v.name.padEnd(11)}  ${String(Math.round(rate)).padStart(6)}  ${(rate / base).toFixed(2).padStart(11)}  ${median(v.cpuUs).toFixed(0).padStart(26)}  ${String(v.failures).padStart(8)}`;
    }),
  ];
  process.stdout.write(`\n${lines.join('\n')}\n`);
  for (const v of variants) await stopChild(v.proc.child, 10_000);
  stopAll();
}
