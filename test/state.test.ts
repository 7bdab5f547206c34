/**
 * The SharedState contract, run against both backends (memory, and redis on a real redis-server),
 * then what only the redis backend does: two states on one Redis see each other's writes, and a
 * Redis crash and restart loses nothing either of them knew.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { Balancer } from '../src/routing/balancer.js';
import { buildRegistry } from '../src/routing/registry.js';
import { configSchema } from '../src/config/schema.js';
import { MemoryState } from '../src/state/memory.js';
import { RedisState } from '../src/state/redis.js';
import type { SharedState } from '../src/state/types.js';
import { waitFor } from './helpers/management.js';
import { startRedis, type TestRedis } from './helpers/redis.js';
import { sleep } from './helpers/upstream.js';

const quiet = pino({ level: 'silent' });
const POLICY = { maxFailures: 3, banMs: 60_000 };

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(() => redis.stop());

const opened: SharedState[] = [];
async function open(kind: 'memory' | 'redis'): Promise<SharedState> {
  const state = kind === 'memory' ? new MemoryState() : new RedisState(redis.url, quiet);
  await state.start();
  opened.push(state);
  return state;
}
async function closeAll(): Promise<void> {
  await Promise.all(opened.splice(0).map((s) => s.close()));
}

/** A pool of three keys on one model, as the balancer sees it. */
function pool() {
  const config = configSchema.parse({
    'openai-compatibility': [{ name: 'p', 'base-url': 'http://127.0.0.1:9/v1', 'api-key-entries': [{ 'api-key': 'k0' }, { 'api-key': 'k1' }, { 'api-key': 'k2' }], models: [{ name: 'm' }] }],
  });
  return buildRegistry(config).pools.get('m')!;
}

for (const kind of ['memory', 'redis'] as const) {
  describe(`SharedState contract: ${kind}`, { timeout: 60_000 }, () => {
    beforeEach(() => redis.flush());
    after(closeAll);

    test('cooldowns: set, read, list, clear', async () => {
      const s = await open(kind);
      assert.equal(s.cooldownEntries, 0);
      const until = Date.now() + 60_000;
      s.setCooldown({ cred: 'c1', model: 'm', until, reason: 'rate-limit', status: 429, strikes: 1 });
      assert.equal(s.cooldown('c1', 'm')?.until, until);
      assert.equal(s.cooldown('c1', 'other'), undefined);
      assert.deepEqual([...s.cooldowns()].map((c) => c.cred), ['c1']);
      s.clearCooldown('c1', 'm');
      assert.equal(s.cooldown('c1', 'm'), undefined);
      assert.equal(s.cooldownEntries, 0);
    });

    test('bindings: bound, refreshed, expired', async () => {
      const s = await open(kind);
      const now = Date.now();
      s.bind('pool\u0000session-1', { target: 't', cred: 'c2', expires: now + 1000 }, now);
      assert.equal(s.binding('pool\u0000session-1', now)?.cred, 'c2');
      assert.equal(s.binding('pool\u0000session-2', now), undefined);
      assert.equal(s.binding('pool\u0000session-1', now + 1001), undefined, 'expired');
    });

    test('round-robin over three keys stays even', async () => {
      const s = await open(kind);
      const balancer = new Balancer(s);
      const p = pool();
      const counts = new Map<number, number>();
      for (let i = 0; i < 30; i++) {
        const first = balancer.round(p, { strategy: 'round-robin' }).next().value!;
        counts.set(first.credential.index, (counts.get(first.credential.index) ?? 0) + 1);
        await sleep(2); // requests are never back to back within one tick
      }
      for (const i of [0, 1, 2]) assert.ok(Math.abs((counts.get(i) ?? 0) - 10) <= 1, `key ${i}: ${counts.get(i)} of 30`);
    });

    test('counters add up', async () => {
      const s = await open(kind);
      s.count('c3', true);
      s.count('c3', true);
      s.count('c3', false, 'upstream answered 500');
      const c = (await s.counters(['c3', 'none'])).get('c3')!;
      assert.equal(c.success, 2);
      assert.equal(c.failure, 1);
      assert.equal(c.lastError, 'upstream answered 500');
      assert.equal((await s.counters(['none'])).get('none')!.success, 0);
    });

    test('management bans: the third failure bans, success resets the count', async () => {
      const s = await open(kind);
      const now = Date.now();
      assert.equal(await s.authFailure('10.0.0.1', now, POLICY), 0);
      s.authSuccess('10.0.0.1');
      assert.equal(await s.authFailure('10.0.0.1', now, POLICY), 0);
      assert.equal(await s.authFailure('10.0.0.1', now, POLICY), 0);
      const until = await s.authFailure('10.0.0.1', now, POLICY);
      assert.equal(until, now + POLICY.banMs);
      assert.equal(s.bannedUntil('10.0.0.1', now), until);
      assert.equal(s.bannedUntil('10.0.0.2', now), 0);
    });
  });
}

describe('redis backend: two instances on one Redis', { timeout: 60_000 }, () => {
  beforeEach(() => redis.flush());
  after(closeAll);

  test('writes on one are seen by the other within a second', async () => {
    const [a, b] = [await open('redis'), await open('redis')];
    const until = Date.now() + 60_000;
    a.setCooldown({ cred: 'k', model: 'm', until, reason: 'rate-limit', status: 429, strikes: 1 });
    await waitFor(() => b.cooldown('k', 'm')?.until === until, 1000, 'cooldown on b');
    b.clearCooldown('k', 'm');
    await waitFor(() => a.cooldown('k', 'm') === undefined, 1000, 'cleared on a');
    const now = Date.now();
    a.bind('p\u0000s', { target: 't', cred: 'k2', expires: now + 60_000 }, now);
    await waitFor(() => b.binding('p\u0000s', Date.now())?.cred === 'k2', 1000, 'binding on b');
    for (let i = 0; i < 3; i++) await b.authFailure('10.1.1.1', now, POLICY);
    await waitFor(() => a.bannedUntil('10.1.1.1', Date.now()) > 0, 1000, 'ban on a');
    a.count('k', true);
    b.count('k', true);
    b.count('k', false, 'boom');
    // Each instance adds its counts to Redis every half second.
    await waitFor(async () => {
      const c = (await a.counters(['k'])).get('k')!;
      return c.success === 2 && c.failure === 1 && c.lastError === 'boom';
    }, 2000, 'counters of both instances added up');
  });

  test('picks alternating between instances rotate over all keys', async () => {
    const [a, b] = [new Balancer(await open('redis')), new Balancer(await open('redis'))];
    const p = pool();
    const counts = [0, 0, 0];
    for (let i = 0; i < 60; i++) {
      counts[(i % 2 ? a : b).round(p, { strategy: 'round-robin' }).next().value!.credential.index]!++;
      await sleep(2);
    }
    for (const n of counts) assert.ok(Math.abs(n - 20) <= 2, `spread ${counts.join('/')}`);
  });

  test('Redis crash: local state keeps answering, and both sides resynchronise after the restart', async () => {
    const [a, b] = [await open('redis'), await open('redis')];
    const until = Date.now() + 120_000;
    a.setCooldown({ cred: 'before', model: 'm', until, reason: 'auth', strikes: 0 });
    await waitFor(() => b.cooldown('before', 'm') !== undefined, 1000, 'replicated');
    await redis.kill();
    await waitFor(() => !a.up() && !b.up(), 3000, 'both see redis down');
    // Written while Redis is away: served locally at once, pushed later.
    a.setCooldown({ cred: 'during', model: 'm', until, reason: 'rate-limit', strikes: 1 });
    assert.equal(a.cooldown('during', 'm')?.until, until);
    assert.equal(b.cooldown('before', 'm')?.until, until, 'b keeps what it knew');
    await redis.restart();
    await waitFor(() => a.up() && b.up(), 5000, 'both reconnected');
    await waitFor(() => b.cooldown('during', 'm')?.until === until, 3000, 'b learnt the cooldown set during the outage');
    assert.equal(a.cooldown('before', 'm')?.until, until, 'the restarted (empty) Redis was refilled');
    // And replication works again.
    b.setCooldown({ cred: 'after', model: 'm', until, reason: 'transient', strikes: 0 });
    await waitFor(() => a.cooldown('after', 'm') !== undefined, 1000, 'replicated after restart');
  });

  test('Redis unreachable at startup: the state serves locally and connects once Redis is there', async () => {
    await redis.kill();
    const started = Date.now();
    const a = await open('redis');
    assert.ok(Date.now() - started < 3000, 'startup does not wait for Redis');
    assert.equal(a.up(), false);
    a.setCooldown({ cred: 'early', model: 'm', until: Date.now() + 60_000, reason: 'auth', strikes: 0 });
    assert.ok(a.cooldown('early', 'm'));
    const closing = Date.now();
    await (await open('redis')).close();
    assert.ok(Date.now() - closing < 1500, 'closing while Redis is away does not hang');
    await redis.restart();
    await waitFor(() => a.up(), 5000, 'connected');
    const b = await open('redis');
    await waitFor(() => b.cooldown('early', 'm') !== undefined, 3000, 'pushed on connect, pulled by another');
  });
});
