/** Metrics, the overhead header, request logs and the access log, end to end over HTTP. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import OpenAI from 'openai';
import { waitFor } from './helpers/management.js';
import { parseMetrics, series, sseData, usageUpstream, USAGE } from './helpers/observe.js';
import { CLIENT_KEY, chatBody, post, provider, startProxy, type TestProxy } from './helpers/proxy.js';
import { error, mockUpstream, type MockUpstream } from './helpers/upstream.js';
import { prettyLine } from '../src/observe/logger.js';

const SECRET = 'obs-mgmt-secret-for-tests-01';
const UPSTREAM_DELAY_MS = 40;

async function setup(t: TestContext, extra: Record<string, unknown> = {}): Promise<{ up: MockUpstream; proxy: TestProxy }> {
  const up = await mockUpstream(usageUpstream({ delayMs: UPSTREAM_DELAY_MS }));
  const bad = await mockUpstream(error(401, 'bad key', 'authentication_error'));
  const proxy = await startProxy({
    'remote-management': { 'secret-key': SECRET },
    'openai-compatibility': [provider('alpha', up.url, [{ name: 'up-model', alias: 'm' }]), provider('beta', bad.url, [{ name: 'x', alias: 'locked' }])],
    ...extra,
  });
  t.after(async () => {
    await proxy.close();
    await Promise.all([up.close(), bad.close()]);
  });
  return { up, proxy };
}

async function scrape(proxy: TestProxy, key: string | null = SECRET): Promise<Response> {
  return fetch(`${proxy.url}/metrics`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
}

async function metrics(proxy: TestProxy): Promise<Map<string, number>> {
  const res = await scrape(proxy);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

const chat = { endpoint: '/v1/chat/completions', model: 'm', provider: 'alpha' };
const get = (m: Map<string, number>, name: string, labels: Record<string, string> = {}) => m.get(series(name, labels)) ?? 0;

describe('metrics', () => {
  test('/metrics parses and moves as requests flow: counters, histograms, gauges, overhead > 0 and < total', async (t) => {
    const { proxy } = await setup(t);
    const before = await metrics(proxy);
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL, maxRetries: 0 });
    for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    for (let i = 0; i < 2; i++) {
      const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
      for await (const _ of stream) void _;
    }
    assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('nope'))).status, 404);
    assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('locked'))).status, 401);

    // The last answers' close events may trail the client by a tick: poll.
    const after = (await waitFor(async () => {
      const m = await metrics(proxy);
      return get(m, 'cliproxy_requests_total', { ...chat, status: '200' }) - get(before, 'cliproxy_requests_total', { ...chat, status: '200' }) === 5 ? m : undefined;
    }))!;
    const delta = (name: string, labels: Record<string, string> = {}) => get(after, name, labels) - get(before, name, labels);
    assert.equal(delta('cliproxy_requests_total', { endpoint: '/v1/chat/completions', model: '', provider: '', status: '404' }), 1, 'unknown model: empty model label');
    assert.equal(delta('cliproxy_requests_total', { endpoint: '/v1/chat/completions', model: 'locked', provider: 'beta', status: '401' }), 1);
    assert.equal(delta('cliproxy_requests_total', { endpoint: '/metrics', model: '', provider: '', status: '200' }) >= 1, true, 'scrapes are counted');
    // 7 API requests + at least the first scrape.
    assert.ok(delta('cliproxy_request_duration_seconds_count') >= 8);
    assert.equal(delta('cliproxy_upstream_duration_seconds_count'), 6, 'requests that reached an upstream (5 + the 401)');
    assert.equal(delta('cliproxy_attempts_count'), 6);
    assert.equal(delta('cliproxy_attempts_bucket', { le: '1' }), 6, 'one attempt each');
    assert.equal(delta('cliproxy_time_to_first_chunk_seconds_count'), 2, 'two streams');
    assert.ok(delta('cliproxy_upstream_duration_seconds_sum') >= (5 * UPSTREAM_DELAY_MS) / 1000, 'upstream wait includes the upstream delay');
    assert.equal(delta('cliproxy_tokens_total', { model: 'm', direction: 'in' }), 5 * USAGE.prompt_tokens, 'streams report usage too');
    assert.equal(delta('cliproxy_tokens_total', { model: 'm', direction: 'out' }), 5 * USAGE.completion_tokens);
    const overhead = delta('cliproxy_overhead_seconds_sum');
    const total = delta('cliproxy_request_duration_seconds_sum');
    assert.ok(overhead > 0, 'overhead > 0');
    assert.ok(overhead < total, `overhead ${overhead} < total ${total}`);
    assert.ok(overhead < total - (5 * UPSTREAM_DELAY_MS) / 1000, 'the upstream wait is not counted as overhead');
    assert.equal(get(after, 'cliproxy_open_streams'), 0);
    assert.equal(get(after, 'cliproxy_credentials_cooling', { provider: 'beta' }), 1, 'the key that answered 401 is cooling');
    assert.equal(get(after, 'cliproxy_credentials_cooling', { provider: 'alpha' }), 0);
    assert.ok(after.has(series('process_cpu_user_seconds_total')), "prom-client's default process metrics");
    assert.ok(after.has(series('nodejs_heap_size_total_bytes')));
    // Histogram buckets are cumulative and end at +Inf = count.
    assert.equal(get(after, 'cliproxy_overhead_seconds_bucket', { le: '+Inf' }), get(after, 'cliproxy_overhead_seconds_count'));
  });

  test('the open-streams gauge counts a stream while it is relayed', async (t) => {
    const { up, proxy } = await setup(t);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    up.handler = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x' } }] })}\n\n`);
      await held;
      res.end('data: [DONE]\n\n');
    };
    const answer = post(`${proxy.baseURL}/chat/completions`, chatBody('m', { stream: true }));
    const res = await answer;
    assert.equal(res.status, 200);
    assert.equal(get(await metrics(proxy), 'cliproxy_open_streams'), 1);
    release();
    await res.text();
    await waitFor(async () => get(await metrics(proxy), 'cliproxy_open_streams') === 0);
  });

  test('/metrics needs the management secret unless metrics.public; without a secret it is 404', async (t) => {
    const { proxy } = await setup(t);
    assert.equal((await scrape(proxy, null)).status, 401);
    assert.equal((await scrape(proxy, 'wrong-secret')).status, 401);
    assert.equal((await scrape(proxy)).status, 200);

    const open = await startProxy({ metrics: { public: true }, 'openai-compatibility': [] });
    const off = await startProxy({ 'openai-compatibility': [] });
    t.after(() => Promise.all([open.close(), off.close()]));
    const res = await scrape(open, null);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^# HELP cliproxy_requests_total/m);
    const hidden = await scrape(off, null);
    assert.equal(hidden.status, 404);
    assert.match(((await hidden.json()) as { error: string }).error, /metrics\.public/);
  });
});

describe('overhead header and access log', () => {
  test('every answer carries x-cliproxy-overhead-ms and x-request-id; the upstream wait is not overhead', async (t) => {
    const { proxy } = await setup(t);
    const started = performance.now();
    const ok = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
    await ok.text();
    const elapsed = performance.now() - started;
    const overhead = Number(ok.headers.get('x-cliproxy-overhead-ms'));
    assert.ok(overhead > 0, `overhead ${overhead} > 0`);
    assert.ok(overhead < elapsed - UPSTREAM_DELAY_MS, `overhead ${overhead} ms excludes the ${UPSTREAM_DELAY_MS} ms upstream wait (total ${elapsed} ms)`);
    const stream = await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { stream: true }));
    await stream.text();
    const answers = [
      ok,
      stream,
      await post(`${proxy.baseURL}/chat/completions`, chatBody('nope')),
      await post(`${proxy.baseURL}/chat/completions`, chatBody('m'), { authorization: 'Bearer wrong' }),
      await fetch(`${proxy.url}/healthz`),
      await fetch(`${proxy.url}/nowhere`),
      await fetch(`${proxy.baseURL}/chat/completions`, { method: 'OPTIONS', headers: { origin: 'http://x', 'access-control-request-method': 'POST' } }),
      await fetch(`${proxy.url}/v0/management/config`),
      await scrape(proxy),
    ];
    for (const res of answers) {
      assert.match(res.headers.get('x-cliproxy-overhead-ms') ?? '', /^\d+\.\d{3}$/, `${res.url} ${res.status}`);
      assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    }
    assert.deepEqual(
      answers.map((r) => r.status),
      [200, 200, 404, 401, 200, 404, 204, 401, 200],
    );
  });

  test('one access-log line per request: method, path without query, model, provider, status, ms, overhead', async (t) => {
    const { proxy } = await setup(t);
    const res = await fetch(`${proxy.baseURL}/chat/completions?key=${CLIENT_KEY}&x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(chatBody('m')),
    });
    assert.equal(res.status, 200);
    await res.text();
    const id = res.headers.get('x-request-id')!;
    const line = (await waitFor(() => proxy.logs.find((l) => l.includes(id))))!;
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.equal(entry.level, 30, 'info');
    assert.equal(entry.msg, 'request');
    assert.equal(entry.method, 'POST');
    assert.equal(entry.path, '/v1/chat/completions');
    assert.equal(entry.model, 'm');
    assert.equal(entry.provider, 'alpha');
    assert.equal(entry.status, 200);
    assert.ok(typeof entry.ms === 'number' && entry.ms >= UPSTREAM_DELAY_MS);
    assert.ok(typeof entry.overheadMs === 'number' && entry.overheadMs > 0 && entry.overheadMs < (entry.ms as number));
    assert.equal(proxy.logs.filter((l) => l.includes(id)).length, 1, 'exactly one line');
    assert.ok(!proxy.logs.join('\n').includes(CLIENT_KEY), 'the key from the query string is not logged');
  });
});

describe('the access log of the CLI', () => {
  test('cliproxy prints one JSON access-log line per request on a pipe, within a fraction of a second', async (t) => {
    const up = await mockUpstream(usageUpstream());
    const dir = await mkdtemp(join(tmpdir(), 'cliproxy-obs-cli-'));
    t.after(async () => {
      await up.close();
      await rm(dir, { recursive: true, force: true });
    });
    const config = join(dir, 'config.yaml');
    await writeFile(config, `api-keys: ["${CLIENT_KEY}"]\nopenai-compatibility:\n  - name: alpha\n    base-url: "${up.url}"\n    models: [{ name: up-model, alias: m }]\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', resolve('src/cli.ts'), '--config', config, '--port', '0', '--host', '127.0.0.1'], { cwd: process.cwd() });
    t.after(() => void child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const port = (await waitFor(() => /listening on http:\/\/[^\s:]+:(\d+)/.exec(out)?.[1], 15_000, 'the banner'))!;
    const res = await post(`http://127.0.0.1:${port}/v1/chat/completions`, chatBody('m'));
    assert.equal(res.status, 200);
    const id = res.headers.get('x-request-id')!;
    const line = (await waitFor(() => out.split('\n').find((l) => l.includes(id)), 1000, 'the access-log line'))!;
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual([entry.level, entry.msg, entry.method, entry.path, entry.model, entry.provider, entry.status], [30, 'request', 'POST', '/v1/chat/completions', 'm', 'alpha', 200]);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  });

  test('on a terminal a line reads as time, level, message and fields', () => {
    const line = JSON.stringify({ level: 30, time: Date.UTC(2026, 0, 1, 12, 0, 1), msg: 'request', method: 'POST', path: '/v1/chat/completions', status: 200, ms: 1.5 });
    assert.match(prettyLine(line), /^\d\d:\d\d:01 INFO request method=POST path=\/v1\/chat\/completions status=200 ms=1\.5\n$/);
    assert.equal(prettyLine('not json\n'), 'not json\n');
  });
});

describe('request logs', () => {
  test('one file per request under logs/, streams included, secrets masked, served by request id', async (t) => {
    const { proxy } = await setup(t, { 'request-log': true });
    const plain = await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { messages: [{ role: 'user', content: 'find me in the log' }] }));
    assert.equal(plain.status, 200);
    await plain.text();
    const stream = await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { stream: true }), { 'x-api-key': CLIENT_KEY });
    const events = await sseData(stream);
    assert.equal(events.at(-1), '[DONE]');
    const failed = await post(`${proxy.baseURL}/chat/completions`, chatBody('locked'));
    assert.equal(failed.status, 401);
    await failed.text();

    const dir = join(proxy.dir, 'logs');
    const ids = [plain, stream, failed].map((r) => r.headers.get('x-request-id')!);
    const files = (await waitFor(async () => {
      const names = await readdir(dir).catch(() => [] as string[]);
      return ids.every((id) => names.some((n) => n.endsWith(`-${id}.log`))) ? names : undefined;
    }))!;
    assert.equal(files.length, 3, 'one file per API request');
    const read = async (id: string) => waitFor(async () => {
      const text = await readFile(join(dir, files.find((n) => n.endsWith(`-${id}.log`))!), 'utf8');
      return text.includes('=== end:') ? text : undefined;
    });
    const [plainLog, streamLog, failedLog] = await Promise.all(ids.map(read));
    assert.match(plainLog!, /POST \/v1\/chat\/completions/);
    assert.match(plainLog!, /find me in the log/, 'the request body');
    assert.match(plainLog!, /=== attempt: provider=alpha model=up-model credential=0 key=sk-alp\.\.\.1234 -> 200/);
    assert.match(plainLog!, /=== response 200/);
    assert.match(plainLog!, /"hello there"/, 'the response body');
    assert.match(plainLog!, /authorization: Bearer sk-cli\.\.\.0001/, 'the client key, masked');
    assert.match(streamLog!, /data: \[DONE\]/, 'the stream as relayed');
    assert.match(streamLog!, /x-api-key: sk-cli\.\.\.0001/);
    assert.match(failedLog!, /=== attempt: provider=beta .* -> 401/);
    assert.match(failedLog!, /=== response 401/);
    for (const text of [plainLog!, streamLog!, failedLog!]) {
      for (const secret of [CLIENT_KEY, 'sk-alpha-upstream-key-1234', 'sk-beta-upstream-key-1234', SECRET]) assert.ok(!text.includes(secret), `${secret.slice(0, 8)}... in a request log`);
    }

    const served = await fetch(`${proxy.url}/v0/management/request-log/${ids[0]}`, { headers: { authorization: `Bearer ${SECRET}` } });
    assert.equal(served.status, 200);
    assert.equal(await served.text(), plainLog);
    const missing = await fetch(`${proxy.url}/v0/management/request-log/00000000-0000-0000-0000-000000000000`, { headers: { authorization: `Bearer ${SECRET}` } });
    assert.equal(missing.status, 404);
    const traversal = await fetch(`${proxy.url}/v0/management/request-log/..%2Fconfig.yaml`, { headers: { authorization: `Bearer ${SECRET}` } });
    assert.equal(traversal.status, 404);
    assert.equal((await fetch(`${proxy.url}/v0/management/request-log/${ids[0]}`)).status, 401, 'behind the management guard');
  });

  test('the oldest files are removed past logs-max-total-size-mb; off by default', async (t) => {
    const { proxy } = await setup(t, { 'request-log': true, 'logs-dir': 'trace', 'logs-max-total-size-mb': 0.004 });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
      await res.text();
      ids.push(res.headers.get('x-request-id')!);
    }
    const dir = join(proxy.dir, 'trace');
    // Removal is asynchronous: wait until the directory holds the newest file and stops changing.
    let previous = '';
    const names = (await waitFor(async () => {
      const list = (await readdir(dir)).sort();
      const settled = list.join() === previous && list.some((n) => n.endsWith(`-${ids.at(-1)}.log`));
      previous = list.join();
      return settled ? list : undefined;
    }, 3000, 'old files to be removed'))!;
    assert.ok(names.length < 8, `${names.length} files left of 8`);
    let total = 0;
    for (const n of names) total += (await stat(join(dir, n))).size;
    const newestSize = (await stat(join(dir, names.find((n) => n.endsWith(`-${ids.at(-1)}.log`))!))).size;
    assert.ok(total <= 0.004 * 1024 * 1024 + newestSize, `total ${total} bytes stays near the cap`);
    assert.ok(!names.some((n) => n.endsWith(`-${ids[0]}.log`)), 'the oldest file is gone');

    const quiet = await setup(t);
    await (await post(`${quiet.proxy.baseURL}/chat/completions`, chatBody('m'))).text();
    await assert.rejects(readdir(join(quiet.proxy.dir, 'logs')), 'no logs directory while request-log is off');
  });
});
