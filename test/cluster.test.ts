/**
 * Three cliproxy instances on one real redis-server, as behind a load balancer: a 429 seen by one
 * cools the key on all, session affinity holds across them, a management PATCH on one is served
 * by the others, usage totals add up on any of them, and Redis killed mid-load costs no request
 * while the state resynchronises after its restart.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, beforeEach, describe, test, type TestContext } from 'node:test';
import { call, modelIds, waitFor } from './helpers/management.js';
import { chatBody, post, startProxy, type TestProxy } from './helpers/proxy.js';
import { startRedis, type TestRedis } from './helpers/redis.js';
import { completion, mockUpstream, sleep, type MockUpstream } from './helpers/upstream.js';

const SECRET = 'cluster-mgmt-secret-0001';
const KEYS = ['sk-cluster-key-zero-0000', 'sk-cluster-key-one-11111', 'sk-cluster-key-two-22222'];

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(() => redis.stop());
beforeEach(() => redis.flush());

/** Which key index an upstream request carried. */
const keyOf = (headers: Record<string, unknown>) => KEYS.findIndex((k) => headers.authorization === `Bearer ${k}`);

/** Answers 200, except 429 (Retry-After 120) for key 0 on model `limited`. */
async function upstream(t: TestContext): Promise<MockUpstream> {
  const up = await mockUpstream((_req, res, r) => {
    if (r.json?.model === 'limited' && keyOf(r.headers) === 0) {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '120' });
      res.end('{"error":{"message":"rate limited","type":"rate_limit_error"}}');
      return;
    }
    const body = JSON.stringify(completion(`key ${keyOf(r.headers)}`, r.json?.model));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  t.after(() => up.close());
  return up;
}

async function cluster(t: TestContext, up: MockUpstream, routing: Record<string, unknown> = {}): Promise<TestProxy[]> {
  const config = {
    'redis-url': redis.url,
    'remote-management': { 'secret-key': SECRET },
    'usage-statistics-enabled': true,
    'request-retry': 0,
    routing,
    'openai-compatibility': [
      {
        name: 'p',
        'base-url': up.url,
        'api-key-entries': KEYS.map((k) => ({ 'api-key': k })),
        models: [
          { name: 'up-model', alias: 'm' },
          { name: 'limited', alias: 'lim' },
        ],
      },
    ],
  };
  const proxies = await Promise.all([startProxy(config), startProxy(config), startProxy(config)]);
  t.after(() => Promise.all(proxies.map((p) => p.close())));
  await waitFor(async () => (await Promise.all(proxies.map(backendUp))).every((v) => v === 1), 3000, 'every instance connected to redis');
  return proxies;
}

async function backendUp(proxy: TestProxy): Promise<number> {
  const res = await fetch(`${proxy.url}/metrics`, { headers: { authorization: `Bearer ${SECRET}` } });
  const m = /^cliproxy_state_backend_up\{backend="redis"\} (\d)/m.exec(await res.text());
  return m ? Number(m[1]) : -1;
}

const cooldownsOf = async (proxy: TestProxy, credential: string) => {
  const res = await call(proxy, 'GET', '/credentials', undefined, { key: SECRET });
  return (res.json.credentials as Array<{ id: string; cooldowns: Array<{ model: string }> }>).find((c) => c.id === credential)!.cooldowns;
};

// A hang (e.g. a request nobody answers) fails the test instead of stalling the suite.
describe('three instances, one Redis', { timeout: 90_000 }, () => {
  test('a 429 seen by one instance cools the key on all of them', async (t) => {
    const up = await upstream(t);
    const [a, b, c] = await cluster(t, up, { strategy: 'fill-first' });
    const first = await post(`${a.baseURL}/chat/completions`, chatBody('lim'));
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-cliproxy-credential'), '1', 'key 0 answered 429, key 1 served');
    for (const proxy of [b, c]) await waitFor(async () => (await cooldownsOf(proxy, 'p#0')).some((cd) => cd.model === 'limited'), 1000, 'cooldown everywhere');
    const before = up.requests.filter((r) => keyOf(r.headers) === 0).length;
    for (const proxy of [b, c, b, c, a]) {
      const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('lim'));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-cliproxy-credential'), '1');
    }
    assert.equal(up.requests.filter((r) => keyOf(r.headers) === 0).length, before, 'nobody tried the cooling key again');
    // Reset on one instance clears it on all.
    const reset = await call(b, 'POST', '/reset-quota', { credential: 'p#0' }, { key: SECRET });
    assert.equal(reset.status, 200);
    await waitFor(async () => (await cooldownsOf(c, 'p#0')).length === 0, 1000, 'reset everywhere');
  });

  test('session affinity holds across instances', async (t) => {
    const up = await upstream(t);
    const [a, b, c] = await cluster(t, up, { strategy: 'round-robin', 'session-affinity': true });
    const bound = new Map<string, string>();
    for (const session of ['s1', 's2', 's3', 's4']) {
      const res = await post(`${a.baseURL}/chat/completions`, chatBody('m'), { 'x-session-id': session });
      bound.set(session, res.headers.get('x-cliproxy-credential')!);
    }
    assert.equal(new Set(bound.values()).size, 3, 'round-robin bound the sessions to all three keys');
    await sleep(100); // bindings travel by pub/sub
    for (const proxy of [b, c, b]) {
      for (const [session, credential] of bound) {
        const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'), { 'x-session-id': session });
        assert.equal(res.headers.get('x-cliproxy-credential'), credential, `${session} on another instance`);
      }
    }
  });

  test('a management PATCH on one instance is served by the others within a second', async (t) => {
    const up = await upstream(t);
    const [a, b, c] = await cluster(t, up);
    const started = Date.now();
    const patch = await call(a, 'PATCH', '/openai-compatibility', { name: 'p', models: [{ name: 'up-model', alias: 'm' }, { name: 'new-model', alias: 'fresh' }] }, { key: SECRET });
    assert.equal(patch.status, 200, patch.text);
    for (const proxy of [b, c]) await waitFor(async () => (await modelIds(proxy)).includes('fresh'), 1000, 'the new alias on every instance');
    assert.ok(Date.now() - started < 1000);
    const res = await post(`${c.baseURL}/chat/completions`, chatBody('fresh'));
    assert.equal(res.status, 200);
    assert.equal(up.requests.at(-1)!.json.model, 'new-model');
    for (const proxy of [b, c]) assert.match(await readFile(proxy.configPath, 'utf8'), /alias: fresh/, 'each instance wrote its own file');
    // The file edit on one host travels the same way.
    const text = (await readFile(b.configPath, 'utf8')).replace('request-retry: 0', 'request-retry: 2');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(b.configPath, text);
    for (const proxy of [a, c]) await waitFor(() => proxy.gateway.store.current().config['request-retry'] === 2, 2000, 'the file edit on every instance');
  });

  test('usage totals on any instance add up every instance', async (t) => {
    const up = await upstream(t);
    const [a, b, c] = await cluster(t, up);
    const sends: Array<[TestProxy, number]> = [[a, 3], [b, 2], [c, 4]];
    for (const [proxy, n] of sends) for (let i = 0; i < n; i++) assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('m'))).status, 200);
    for (const proxy of [a, b, c]) {
      const usage = await waitFor(async () => {
        const res = await call(proxy, 'GET', '/usage', undefined, { key: SECRET });
        return res.json.usage.total_requests === 9 ? res.json : undefined;
      }, 2000, 'nine requests counted');
      assert.equal(usage.stores, 3);
      assert.equal(usage.usage.total_tokens, 9 * 8);
      assert.equal(Object.values(usage.usage.apis as Record<string, { models: Record<string, { details: unknown[] }> }>)[0]!.models.m!.details.length, 9);
    }
  });

  test('Redis killed mid-load: no request fails, and the state resynchronises after its restart', async (t) => {
    const up = await upstream(t);
    const proxies = await cluster(t, up, { strategy: 'round-robin', 'session-affinity': true });
    const [a, b] = proxies;
    const statuses = new Map<number, number>();
    let sent = 0;
    const TOTAL = 300;
    const worker = async () => {
      while (sent < TOTAL) {
        const i = sent++;
        const res = await post(`${proxies[i % 3]!.baseURL}/chat/completions`, chatBody('m'), { 'x-session-id': `load-${i % 20}` });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        await sleep(2);
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, worker));
    await waitFor(() => sent > 60, 10_000, 'load running');
    await redis.kill();
    await waitFor(async () => (await backendUp(a!)) === 0, 3000, 'cliproxy_state_backend_up 0');
    // A 429 during the outage cools key 0 on this instance only, for now.
    assert.equal((await post(`${a!.baseURL}/chat/completions`, chatBody('lim'))).status, 200);
    assert.ok((await cooldownsOf(a!, 'p#0')).length > 0);
    await waitFor(() => sent > 180, 20_000, 'load during the outage');
    await redis.restart();
    await load;
    assert.deepEqual([...statuses], [[200, TOTAL]], 'every request answered 200');
    for (const proxy of proxies) await waitFor(async () => (await backendUp(proxy)) === 1, 5000, 'reconnected');
    await waitFor(async () => (await cooldownsOf(b!, 'p#0')).some((cd) => cd.model === 'limited'), 3000, 'the outage cooldown reached the others');
    for (const proxy of proxies) {
      assert.equal(proxy.logs.filter((l) => l.includes('redis unreachable')).length, 1, 'the outage is logged once');
      assert.equal(proxy.logs.filter((l) => l.includes('redis reachable again')).length, 1);
    }
  });
});

test('without redis-url the state is in memory and reported up', async (t) => {
  const proxy = await startProxy({ metrics: { public: true }, 'openai-compatibility': [] }, { management: {} });
  t.after(() => proxy.close());
  const text = await (await fetch(`${proxy.url}/metrics`)).text();
  assert.match(text, /^cliproxy_state_backend_up\{backend="memory"\} 1$/m);
});
