/** Routing policy: strategies, priority tiers, session affinity, cooldown control over the management API. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from '../src/config/schema.js';
import { chatBody, post, provider, startProxy } from './helpers/proxy.js';
import { error, mockUpstream, named, type Handler } from './helpers/upstream.js';

const SECRET = 'mgmt-secret-for-routing-tests';
const keys = (...names: string[]) => names.map((n) => ({ 'api-key': `sk-${n}-key-000000` }));
const keyOf = (auth: string | undefined) => /sk-(\w+)-key/.exec(auth ?? '')?.[1] ?? '?';
const tally = (values: string[]) => values.reduce<Record<string, number>>((acc, v) => ((acc[v] = (acc[v] ?? 0) + 1), acc), {});

function manage(url: string, path: string, method = 'GET', body?: unknown): Promise<Response> {
  return fetch(`${url}/v0/management${path}`, {
    method,
    headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function send(url: string, n: number, extra: Record<string, unknown> = {}, model = 'm'): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await post(`${url}/v1/chat/completions`, chatBody(model, extra));
    assert.equal(res.status, 200, await res.text());
  }
}

test('round-robin gives exact shares; fill-first drains the first key; strategy switches live over management', async (t) => {
  const up = await mockUpstream(named('x'));
  const proxy = await startProxy({
    'remote-management': { 'secret-key': SECRET },
    'openai-compatibility': [provider('p', up.url, ['m'], { 'api-key-entries': keys('a', 'b', 'c') })],
  });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  await send(proxy.url, 300);
  assert.deepEqual(tally(up.requests.map((r) => keyOf(r.headers.authorization))), { a: 100, b: 100, c: 100 });

  assert.deepEqual(await (await manage(proxy.url, '/routing/strategy')).json(), { strategy: 'round-robin' });
  const bad = await manage(proxy.url, '/routing/strategy', 'PUT', { value: 'random' });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as any).error, /round-robin, fill-first or weighted-round-robin/);
  assert.equal((await manage(proxy.url, '/routing/strategy', 'PUT', { value: 'ff' })).status, 200);
  assert.deepEqual(await (await manage(proxy.url, '/routing/strategy')).json(), { strategy: 'fill-first' });
  up.requests.length = 0;
  await send(proxy.url, 50);
  assert.deepEqual(tally(up.requests.map((r) => keyOf(r.headers.authorization))), { a: 50 });

  // When the first key cools down, fill-first moves on to the next one in config order.
  up.handler = (req, res, r) => (keyOf(r.headers.authorization) === 'a' ? error(429, 'quota', 'rate_limit_error', { 'retry-after': '600' }) : named('x'))(req, res, r);
  up.requests.length = 0;
  await send(proxy.url, 20);
  assert.deepEqual(tally(up.requests.map((r) => keyOf(r.headers.authorization))), { a: 1, b: 20 });
});

test('weighted-round-robin follows key weights and pool member weights (within 2 points)', async (t) => {
  const up = await mockUpstream(named('x'));
  const proxy = await startProxy({
    routing: { strategy: 'wrr' },
    'openai-compatibility': [
      provider('p', up.url, ['m'], {
        'api-key-entries': [
          { 'api-key': 'sk-a-key-000000', weight: 1 },
          { 'api-key': 'sk-b-key-000000', weight: 2 },
          { 'api-key': 'sk-c-key-000000', weight: 7 },
          { 'api-key': 'sk-z-key-000000', weight: 0 },
        ],
      }),
      provider('q', up.url, [
        { name: 'light', alias: 'pool', weight: 1 },
        { name: 'heavy', alias: 'pool', weight: 3 },
      ] as any),
    ],
  });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  await send(proxy.url, 500);
  const shares = tally(up.requests.map((r) => keyOf(r.headers.authorization)));
  for (const [key, weight] of Object.entries({ a: 0.1, b: 0.2, c: 0.7 })) {
    assert.ok(Math.abs((shares[key] ?? 0) / 500 - weight) <= 0.02, `${key}: ${shares[key]} of 500`);
  }
  assert.equal(shares.z, undefined, 'weight 0 is never picked');
  up.requests.length = 0;
  await send(proxy.url, 400, {}, 'pool');
  const members = tally(up.requests.map((r) => r.json.model));
  assert.ok(Math.abs(members.heavy! / 400 - 0.75) <= 0.02, JSON.stringify(members));
});

test('priority tiers: lower tiers only when every higher-tier credential was tried or is cooling', async (t) => {
  let primaryDown = false;
  const primary = await mockUpstream((req, res, r) => (primaryDown ? error(500) : named('primary'))(req, res, r));
  const backup = await mockUpstream(named('backup'));
  const proxy = await startProxy({
    'request-retry': 0,
    'openai-compatibility': [
      provider('backup', backup.url, [{ name: 'b', alias: 'pool' }], { priority: 0 }),
      provider('primary', primary.url, [{ name: 'p', alias: 'pool' }], {
        priority: 10,
        // The entry's own priority wins over the provider's.
        'api-key-entries': [...keys('p1', 'p2'), { 'api-key': 'sk-low-key-000000', priority: -5 }],
      }),
    ],
  });
  t.after(async () => Promise.all([proxy.close(), primary.close(), backup.close()]));
  await send(proxy.url, 20, {}, 'pool');
  assert.equal(backup.requests.length, 0);
  assert.deepEqual(tally(primary.requests.map((r) => keyOf(r.headers.authorization))), { p1: 10, p2: 10 });

  primaryDown = true;
  primary.requests.length = 0;
  const res = await post(`${proxy.url}/v1/chat/completions`, chatBody('pool'));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-cliproxy-provider'), 'backup');
  assert.equal(res.headers.get('x-cliproxy-attempts'), '3', 'both tier-10 keys, then the tier-0 provider');
  assert.equal(primary.requests.length, 2);
  // Tier 10 is cooling now: straight to tier 0, never to the -5 key while tier 0 is healthy.
  await send(proxy.url, 5, {}, 'pool');
  assert.equal(primary.requests.length, 2);
  assert.equal(backup.requests.length, 6);
});

test('session affinity keeps a session on one key and rebinds when that key fails', async (t) => {
  const failing = new Set<string>();
  const up = await mockUpstream((req, res, r) => (failing.has(keyOf(r.headers.authorization)) ? error(503) : named('x'))(req, res, r));
  const proxy = await startProxy({
    routing: { 'session-affinity': true, 'session-affinity-ttl': '30m' },
    'openai-compatibility': [provider('p', up.url, ['m'], { 'api-key-entries': keys('a', 'b', 'c') })],
  });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const keysFor = async (user: string, n: number, headers: Record<string, string> = {}) => {
    const before = up.requests.length;
    for (let i = 0; i < n; i++) assert.equal((await post(`${proxy.url}/v1/chat/completions`, chatBody('m', user ? { user } : {}), headers)).status, 200);
    return up.requests.slice(before).map((r) => keyOf(r.headers.authorization));
  };
  const alice = await keysFor('alice', 10);
  assert.equal(new Set(alice).size, 1, `alice used ${alice}`);
  const bob = await keysFor('bob', 10);
  assert.equal(new Set(bob).size, 1);
  const viaHeader = await keysFor('', 6, { 'x-session-id': 'carol' });
  assert.equal(new Set(viaHeader).size, 1);

  failing.add(alice[0]!);
  const rebound = await keysFor('alice', 6);
  assert.equal(rebound[0], alice[0], 'the bound key is tried first and fails');
  const after = rebound.slice(1);
  assert.equal(new Set(after).size, 1, `after the failure alice sticks to one new key: ${after}`);
  assert.notEqual(after[0], alice[0]);
});

test('credentials show counters and cooldowns; reset-quota brings a cooled key back at once', async (t) => {
  const up = await mockUpstream((req, res, r) => (keyOf(r.headers.authorization) === 'a' ? error(401, 'bad key', 'authentication_error') : named('x'))(req, res, r));
  const proxy = await startProxy({
    'remote-management': { 'secret-key': SECRET },
    'openai-compatibility': [provider('p', up.url, ['m'], { 'api-key-entries': keys('a', 'b') })],
  });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  await send(proxy.url, 4);
  const list = (await (await manage(proxy.url, '/credentials')).json()) as any;
  const [a, b] = list.credentials;
  assert.equal(a.id, 'p#0');
  assert.equal(a.key, 'sk-a-k...0000');
  assert.equal(a.failure, 1);
  assert.equal(a.cooldowns.length, 1);
  assert.equal(a.cooldowns[0].reason, 'auth');
  assert.equal(a.cooldowns[0].status, 401);
  assert.ok(Date.parse(a.cooldowns[0].until) > Date.now() + 29 * 60_000);
  assert.equal(b.success, 4);
  assert.doesNotMatch(JSON.stringify(list), /sk-a-key-000000/);

  up.handler = named('fixed');
  up.requests.length = 0;
  await send(proxy.url, 2);
  assert.deepEqual(up.requests.map((r) => keyOf(r.headers.authorization)), ['b', 'b'], 'a is still cooling');
  assert.equal((await manage(proxy.url, '/reset-quota', 'POST', { credential: 'nope#9' })).status, 404);
  const reset = (await (await manage(proxy.url, '/reset-quota', 'POST', { credential: 'p#0' })).json()) as any;
  assert.equal(reset.status, 'ok');
  assert.deepEqual(reset.cleared.map((c: any) => [c.credential, c.model, c.reason]), [['p#0', 'm', 'auth']]);
  up.requests.length = 0;
  await send(proxy.url, 2);
  assert.deepEqual(up.requests.map((r) => keyOf(r.headers.authorization)).sort(), ['a', 'b']);
  const all = (await (await manage(proxy.url, '/reset-quota', 'POST', {})).json()) as any;
  assert.deepEqual(all.cleared, []);
});

test('disable-cooling keeps a failing key in rotation; transient-error-cooldown-seconds sets the 5xx cooldown', async (t) => {
  const flaky: Handler = (req, res, r) => (keyOf(r.headers.authorization) === 'a' ? error(500) : named('x'))(req, res, r);
  const up = await mockUpstream(flaky);
  const proxy = await startProxy({
    'request-retry': 0,
    'openai-compatibility': [provider('p', up.url, ['m'], { 'api-key-entries': [{ 'api-key': 'sk-a-key-000000', 'disable-cooling': true }, ...keys('b')] })],
  });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  await send(proxy.url, 6);
  assert.equal(up.requests.filter((r) => keyOf(r.headers.authorization) === 'a').length, 3, 'a is tried every other request');

  const single = await startProxy({
    'request-retry': 0,
    'transient-error-cooldown-seconds': 0,
    'openai-compatibility': [provider('p', up.url, ['m'], { 'api-key-entries': keys('a') })],
  });
  t.after(() => single.close());
  for (let i = 0; i < 3; i++) assert.equal((await post(`${single.url}/v1/chat/completions`, chatBody('m'))).status, 500, 'no cooldown: the upstream answer each time');
});

test('session-affinity-ttl takes durations or seconds', () => {
  assert.equal(parseDuration('90s'), 90);
  assert.equal(parseDuration('30m'), 1800);
  assert.equal(parseDuration('1h'), 3600);
  assert.equal(parseDuration('1h30m'), 5400);
  assert.equal(parseDuration(45), 45);
  assert.equal(parseDuration('soon'), undefined);
});
