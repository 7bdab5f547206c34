/**
 * `--workers 2` with the built CLI: two processes serve one port, a killed worker is replaced,
 * SIGTERM lets every worker finish what it has in flight and the primary exits 0; and with
 * redis-url the workers share state (a 429 on whichever worker cools the key for both).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { waitFor } from './helpers/management.js';
import { CLIENT_KEY, chatBody, post } from './helpers/proxy.js';
import { startRedis, type TestRedis } from './helpers/redis.js';
import { completion, mockUpstream, sleep, type MockUpstream } from './helpers/upstream.js';

const CLI = resolve('dist/cli.js');
const KEYS = ['sk-workers-key-zero-000', 'sk-workers-key-one-1111'];

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(() => redis.stop());

interface Primary {
  child: ChildProcess;
  url: string;
  out: () => string;
  exit: Promise<number | null>;
}

/** Starts the primary and returns at once: the workers may still be loading. */
async function spawnWorkers(t: TestContext, up: MockUpstream, extra: Record<string, unknown> = {}): Promise<Primary> {
  const dir = await mkdtemp(join(tmpdir(), 'cliproxy-workers-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = {
    'api-keys': [CLIENT_KEY],
    'request-retry': 0,
    routing: { strategy: 'fill-first' },
    'openai-compatibility': [{ name: 'p', 'base-url': up.url, 'api-key-entries': KEYS.map((k) => ({ 'api-key': k })), models: [{ name: 'up', alias: 'm' }] }],
    ...extra,
  };
  await writeFile(join(dir, 'config.yaml'), stringify(config));
  const child = spawn(process.execPath, [CLI, '--config', join(dir, 'config.yaml'), '--port', '0', '--host', '127.0.0.1', '--workers', '2'], {
    cwd: dir,
    env: { ...process.env, NODE_NO_WARNINGS: '1', REDIS_URL: '' },
    // Its own process group, as under a terminal: a signal can go to the primary and workers at once.
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.after(() => {
    for (const pid of workerPids(child.pid!)) process.kill(pid, 'SIGKILL');
    child.kill('SIGKILL');
  });
  return { child, url: '', out: () => out, exit };
}

async function startWorkers(t: TestContext, up: MockUpstream, extra: Record<string, unknown> = {}): Promise<Primary> {
  const primary = await spawnWorkers(t, up, extra);
  // Three processes start at once: generous limits for a loaded machine.
  await waitFor(() => /listening on (http:\/\/\S+)/.test(primary.out()), 30_000, 'the banner');
  await waitFor(() => workerPids(primary.child.pid!).length === 2, 10_000, 'two workers');
  return { ...primary, url: /listening on (http:\/\/\S+)/.exec(primary.out())![1]! };
}

/** `promise`, or an error that shows what the primary printed: a hang names its step. */
async function within<T>(primary: Primary, promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms; cliproxy printed:\n${primary.out()}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function workerPids(primary: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(primary)], { encoding: 'utf8' }).split('\n').map(Number).filter((n) => n > 0);
  } catch {
    return [];
  }
}

/** The upstream answers every request with `text`, after `delayMs`. */
const answerWith = (up: MockUpstream, text: string, delayMs = 0) => {
  up.handler = async (_req, res, r) => {
    if (delayMs > 0) await sleep(delayMs);
    const body = JSON.stringify(completion(text, r.json?.model));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
};
const ok = (up: MockUpstream) => answerWith(up, 'hi');

test('two workers serve one port; a killed worker is replaced; SIGTERM drains both and exits 0', { timeout: 120_000 }, async (t) => {
  const up = await mockUpstream(() => undefined);
  ok(up);
  t.after(() => up.close());
  const primary = await startWorkers(t, up);
  assert.match(primary.out(), /starting 2 workers .*each worker keeps its own state/);
  assert.equal(primary.out().match(/listening on/g)!.length, 1, 'one banner');
  for (let i = 0; i < 10; i++) assert.equal((await within(primary, post(`${primary.url}/v1/chat/completions`, chatBody('m')), 15_000, `request ${i}`)).status, 200);
  const [victim] = workerPids(primary.child.pid!);
  process.kill(victim!, 'SIGKILL');
  await waitFor(() => {
    const pids = workerPids(primary.child.pid!);
    return pids.length === 2 && !pids.includes(victim!);
  }, 15_000, 'a replacement worker');
  await waitFor(() => /worker died; restarting it/.test(primary.out()), 2000, 'the restart logged');
  await sleep(300);
  for (let i = 0; i < 10; i++) assert.equal((await within(primary, post(`${primary.url}/v1/chat/completions`, chatBody('m')), 15_000, `request ${i}`)).status, 200);
  // Slow requests on both workers, then SIGTERM: they finish, then the primary exits 0.
  answerWith(up, 'slow', 800);
  const slow = Array.from({ length: 4 }, () => post(`${primary.url}/v1/chat/completions`, chatBody('m'), { connection: 'close' }));
  await sleep(300);
  primary.child.kill('SIGTERM');
  const statuses = await within(primary, Promise.all(slow.map(async (p) => (await p).status)), 20_000, 'the slow requests');
  assert.deepEqual(statuses, [200, 200, 200, 200]);
  assert.equal(await within(primary, primary.exit, 20_000, 'the exit after SIGTERM'), 0);
});

// The CI hang this guards against: a worker still loading its modules has no message handler
// yet, so a drain request sent to it was lost and the primary waited for it forever.
test('SIGTERM while the workers are still starting: the primary exits 0 at once', { timeout: 60_000 }, async (t) => {
  const up = await mockUpstream(() => undefined);
  t.after(() => up.close());
  const primary = await spawnWorkers(t, up);
  await waitFor(() => /starting 2 workers/.test(primary.out()), 30_000, 'the primary');
  primary.child.kill('SIGTERM');
  assert.equal(await within(primary, primary.exit, 15_000, 'the exit after SIGTERM'), 0);
  assert.doesNotMatch(primary.out(), /listening on/, 'stopped before any worker served');
  assert.deepEqual(workerPids(primary.child.pid!), []);
});

// A worker that died and waits for its restart is not a worker to wait for.
test('SIGTERM while a dead worker waits for its restart: the other drains and the primary exits 0', { timeout: 60_000 }, async (t) => {
  const up = await mockUpstream(() => undefined);
  ok(up);
  t.after(() => up.close());
  const primary = await startWorkers(t, up);
  const [victim] = workerPids(primary.child.pid!);
  process.kill(victim!, 'SIGKILL');
  await waitFor(() => /worker died; restarting it/.test(primary.out()), 10_000, 'the death noticed');
  primary.child.kill('SIGTERM'); // the restart is 200 ms away
  assert.equal(await within(primary, primary.exit, 15_000, 'the exit after SIGTERM'), 0);
  assert.deepEqual(workerPids(primary.child.pid!), [], 'no worker restarted during the stop');
});

test('with redis-url, workers share state (a 429 on one cools the key for both); Ctrl-C drains', { timeout: 120_000 }, async (t) => {
  await redis.flush();
  const up = await mockUpstream(() => undefined);
  t.after(() => up.close());
  up.handler = (_req, res, r) => {
    if (r.headers.authorization === `Bearer ${KEYS[0]}`) {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '120' });
      res.end('{"error":{"message":"slow down"}}');
      return;
    }
    const body = JSON.stringify(completion('hi', r.json?.model));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const primary = await startWorkers(t, up, { 'redis-url': redis.url });
  assert.match(primary.out(), /state shared through redis/);
  // fill-first: key 0 first, unless it is cooling. The first request meets the 429 (and fails
  // over to key 1); the cooldown reaches the other worker by pub/sub, asynchronously: wait until
  // it is in Redis, plus a delivery's time on a loaded machine.
  assert.equal((await post(`${primary.url}/v1/chat/completions`, chatBody('m'), { connection: 'close' })).status, 200);
  const inspect = new Redis(redis.url);
  t.after(() => inspect.quit());
  await waitFor(async () => (await inspect.keys('cliproxy:cd:*')).length > 0, 5000, 'the cooldown in redis');
  await sleep(200);
  // Fresh connections spread over both workers.
  for (let i = 0; i < 11; i++) {
    const res = await post(`${primary.url}/v1/chat/completions`, chatBody('m'), { connection: 'close' });
    assert.equal(res.status, 200);
    await sleep(20);
  }
  const key0 = up.requests.filter((r) => r.headers.authorization === `Bearer ${KEYS[0]}`).length;
  assert.equal(key0, 1, 'only the first request tried the key that answered 429');
  // Ctrl-C in a terminal: SIGINT reaches the primary and every worker; still one drain, not two signals.
  answerWith(up, 'slow', 800);
  const slow = Array.from({ length: 4 }, () => post(`${primary.url}/v1/chat/completions`, chatBody('m'), { connection: 'close' }));
  await sleep(300);
  process.kill(-primary.child.pid!, 'SIGINT');
  assert.deepEqual(await within(primary, Promise.all(slow.map(async (p) => (await p).status)), 20_000, 'the slow requests'), [200, 200, 200, 200]);
  assert.equal(await within(primary, primary.exit, 20_000, 'the exit after SIGINT'), 0);
});
