/**
 * PostgreSQL as the usage store, against the machine's real server (each test its own database):
 * migrations under concurrent starts, two instances writing at once, a restart, the database
 * going away (refused, hanging) mid-load with a bounded buffer, SQLite export → PostgreSQL import,
 * retention, and USAGE_DB_URL.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { stringify } from 'yaml';
import { call, waitFor } from './helpers/management.js';
import { parseMetrics, series, usageUpstream, USAGE } from './helpers/observe.js';
import { pgSkip, TcpSwitch, testDatabase } from './helpers/postgres.js';
import { CLIENT_KEY, chatBody, post, provider, startProxy, type TestProxy } from './helpers/proxy.js';
import { error, mockUpstream } from './helpers/upstream.js';
import { credentialFigures, credentialKey } from '../src/observe/usage-credentials.js';

const SECRET = 'usage-pg-mgmt-secret-for-tests';
const OTHER_KEY = 'sk-client-second-key-0002';
const PER_REQUEST = USAGE.total_tokens;

function config(upstreamUrl: string, usageDb: string, extra: Record<string, unknown> = {}) {
  return {
    'api-keys': [CLIENT_KEY, OTHER_KEY],
    'usage-statistics-enabled': true,
    'usage-db': usageDb,
    'remote-management': { 'secret-key': SECRET },
    'openai-compatibility': [provider('alpha', upstreamUrl, [{ name: 'up-model', alias: 'm' }])],
    ...extra,
  };
}

async function upstream(t: TestContext): Promise<string> {
  const up = await mockUpstream(usageUpstream());
  t.after(() => up.close());
  return up.url;
}

async function usage(proxy: { url: string }, query = '') {
  const res = await call(proxy, 'GET', `/usage${query}`, undefined, { key: SECRET });
  assert.equal(res.status, 200, res.text);
  return res.json.usage;
}

async function usageCount(proxy: { url: string }, n: number, timeoutMs = 5000) {
  return waitFor(
    async () => {
      const snap = await usage(proxy, '?details=none');
      return snap.total_requests === n ? snap : undefined;
    },
    timeoutMs,
    `${n} requests in the usage statistics`,
  );
}

async function metrics(proxy: TestProxy): Promise<Map<string, number>> {
  const res = await fetch(`${proxy.url}/metrics`, { headers: { authorization: `Bearer ${SECRET}` } });
  assert.equal(res.status, 200);
  return parseMetrics(await res.text());
}

/** `n` chat requests, `concurrency` at a time (odd ones with the second key, every fifth a stream); their statuses and times. */
async function load(proxy: TestProxy, n: number, concurrency: number, onDone?: (done: number) => void | Promise<void>) {
  const statuses: number[] = [];
  const times: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const started = performance.now();
      const key = i % 2 === 1 ? OTHER_KEY : CLIENT_KEY;
      const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m', i % 5 === 0 ? { stream: true } : {}), { authorization: `Bearer ${key}` });
      await res.text();
      times.push(performance.now() - started);
      statuses.push(res.status);
      await onDone?.(statuses.length);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { statuses, times };
}

const logged = (proxy: TestProxy, text: string) => proxy.logs.filter((l) => l.includes(text));

describe('usage statistics in PostgreSQL', { skip: pgSkip }, () => {
  test('instances starting at once on an empty database apply each migration once; the indexes exist', async (t) => {
    const url = await upstream(t);
    const db = await testDatabase(t);
    const [a, b] = await Promise.all([startProxy(config(url, db.url)), startProxy(config(url, db.url))]);
    t.after(() => Promise.all([a.close(), b.close()]));
    // Reads wait for the schema: both answer, empty.
    const [ua, ub] = await Promise.all([usage(a), usage(b)]);
    assert.equal(ua.total_requests, 0);
    assert.equal(ub.total_requests, 0);
    const versions = await db.query('SELECT version FROM cliproxy_migrations ORDER BY version');
    assert.deepEqual(versions.rows.map((r) => r.version), [1, 2]);
    const applied = [...a.logs, ...b.logs].filter((l) => l.includes('database schema migrated')).map((l) => JSON.parse(l).applied);
    assert.deepEqual(applied, [[1, 2]], 'one instance migrated, the other found nothing left to do');
    const indexes = (await db.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'cliproxy_usage' ORDER BY indexname`)).rows.map((r) => r.indexname);
    assert.deepEqual(indexes, ['cliproxy_usage_client_model_ts', 'cliproxy_usage_pkey', 'cliproxy_usage_provider_credential_ts', 'cliproxy_usage_request_id_key', 'cliproxy_usage_ts']);
    // A later start is a no-op.
    const c = await startProxy(config(url, db.url));
    t.after(() => c.close());
    assert.equal((await usage(c)).total_requests, 0);
    assert.equal(logged(c, 'database schema migrated').length, 0);
    const complaints = [...a.logs, ...b.logs, ...c.logs].filter((l) => JSON.parse(l).level >= 40);
    assert.deepEqual(complaints, [], 'no instance failed or retried a migration');
  });

  test('a database user without CREATE works once the schema exists (tables set up beforehand, read/write granted)', async (t) => {
    const url = await upstream(t);
    const db = await testDatabase(t);
    const owner = await startProxy(config(url, db.url));
    await usageCount(owner, 0); // schema created by a user that may
    await owner.close();
    const role = `${db.name}_rw`;
    await db.query(`CREATE ROLE ${role} LOGIN`);
    t.after(() => db.admin(`DROP ROLE IF EXISTS ${role}`));
    await db.query(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`);
    await db.query(`GRANT SELECT, INSERT, DELETE ON cliproxy_usage, cliproxy_migrations TO ${role}`);
    const asRole = new URL(db.url);
    asRole.username = role;
    const proxy = await startProxy(config(url, asRole.toString(), { 'usage-retention-days': 365 }));
    t.after(() => proxy.close());
    await load(proxy, 4, 2);
    await usageCount(proxy, 4);
    assert.deepEqual(proxy.logs.filter((l) => JSON.parse(l).level >= 40), [], 'no permission errors');
  });

  test('two instances writing at once: exact totals, and each shows the whole cluster', async (t) => {
    const url = await upstream(t);
    const db = await testDatabase(t);
    const a = await startProxy(config(url, db.url));
    const b = await startProxy(config(url, db.url));
    t.after(() => Promise.all([a.close(), b.close()]));
    const N = 120;
    const [ra, rb] = await Promise.all([load(a, N, 8), load(b, N, 8)]);
    assert.deepEqual([...ra.statuses, ...rb.statuses].filter((s) => s !== 200), []);
    for (const proxy of [a, b]) {
      const u = await usageCount(proxy, 2 * N);
      assert.equal(u.success_count, 2 * N);
      assert.equal(u.failure_count, 0);
      assert.equal(u.total_tokens, 2 * N * PER_REQUEST);
      assert.equal(u.apis['sk-cli...0001'].total_requests, N);
      assert.equal(u.apis['sk-cli...0002'].models.m.total_requests, N);
      assert.equal(Object.values(u.requests_by_hour as Record<string, number>).reduce((x, y) => x + y, 0), 2 * N);
    }
    assert.equal((await db.query('SELECT count(*)::int AS n FROM cliproxy_usage')).rows[0].n, 2 * N);
    // Details: the latest per client and model, capped.
    const capped = await usage(b, '?details=7');
    assert.equal(capped.apis['sk-cli...0001'].models.m.details.length, 7);
    const all = await usage(a, '?details=all');
    assert.equal(all.apis['sk-cli...0002'].models.m.details.length, N);
    assert.ok(all.apis['sk-cli...0001'].models.m.details.some((d: { ttft_ms?: number }) => typeof d.ttft_ms === 'number'));
    // Per-key figures (upstream credential), read through the store as the management API does.
    const store = await b.gateway.runtime.observe.usage();
    const buckets = await store!.credentials({}, 10 * 60_000);
    assert.equal(buckets.reduce((n, x) => n + x.success, 0), 2 * N);
    assert.deepEqual([...new Set(buckets.map((x) => `${x.provider}/${x.credential}`))], ['alpha/0']);
    const figures = await credentialFigures(store!);
    assert.deepEqual([...figures.keys()], [credentialKey('alpha', 0)]);
    const alpha = figures.get(credentialKey('alpha', 0))!;
    assert.equal(alpha.success, 2 * N);
    assert.equal(alpha.failed, 0);
    assert.equal(alpha.recent_requests.length, 20);
    assert.equal(alpha.recent_requests.reduce((n, x) => n + x.success, 0), 2 * N, 'all in the last 200 minutes');
    assert.equal(alpha.recent_requests.at(-1)!.success + alpha.recent_requests.at(-2)!.success, 2 * N, 'in the newest buckets');
    // The Management Center's per-key health bars: the cluster's numbers on either instance.
    for (const proxy of [a, b]) {
      const perKey = await call(proxy, 'GET', '/api-key-usage', undefined, { key: SECRET });
      assert.equal(perKey.status, 200, perKey.text);
      const rows = Object.values(perKey.json.alpha) as Array<{ success: number; failed: number; recent_requests: unknown[] }>;
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.success, 2 * N);
      assert.equal(rows[0]!.recent_requests.length, 20);
      assert.ok(!perKey.text.includes('sk-alpha-upstream-key-1234'), 'key masked');
    }
    // A range that starts in the future is empty.
    assert.equal((await usage(a, `?from=${Math.floor(Date.now() / 1000) + 60}`)).total_requests, 0);
  });

  test('a failed request is recorded against the key that failed it; per-key figures count it', async (t) => {
    const url = await upstream(t);
    const bad = await mockUpstream(error(400, 'bad request', 'invalid_request_error'));
    t.after(() => bad.close());
    const db = await testDatabase(t);
    const base = config(url, db.url);
    const proxy = await startProxy({ ...base, 'openai-compatibility': [...base['openai-compatibility'], provider('beta', bad.url, [{ name: 'x', alias: 'rejected' }])] });
    t.after(() => proxy.close());
    await load(proxy, 2, 1);
    assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('rejected'))).status, 400);
    const u = await usageCount(proxy, 3);
    assert.equal(u.failure_count, 1);
    const failed = (await usage(proxy)).apis['sk-cli...0001'].models.rejected.details[0];
    assert.equal(failed.source, 'beta');
    assert.equal(failed.auth_index, '0');
    const perKey = (await call(proxy, 'GET', '/api-key-usage', undefined, { key: SECRET })).json;
    const [alpha] = Object.values(perKey.alpha) as Array<{ success: number; failed: number }>;
    const [beta] = Object.values(perKey.beta) as Array<{ success: number; failed: number }>;
    assert.deepEqual([alpha!.success, alpha!.failed, beta!.success, beta!.failed], [2, 0, 0, 1]);
  });

  test('a restart keeps the history, and the restarted instance adds to it', async (t) => {
    const url = await upstream(t);
    const db = await testDatabase(t);
    const first = await startProxy(config(url, db.url));
    await load(first, 9, 3);
    await first.close(); // right after the last answer: queued records are written on close
    const second = await startProxy(config(url, db.url));
    t.after(() => second.close());
    const kept = await usage(second, '?details=all');
    assert.equal(kept.total_requests, 9);
    assert.equal(kept.total_tokens, 9 * PER_REQUEST);
    assert.equal(kept.apis['sk-cli...0001'].models.m.details.length, 5);
    await load(second, 2, 1);
    await usageCount(second, 11);
  });

  test('the database goes down mid-load: no request fails, records wait in memory and arrive when it returns', async (t) => {
    const url = await upstream(t);
    const db = await testDatabase(t);
    const relay = await TcpSwitch.start();
    t.after(() => relay.close());
    const proxy = await startProxy(config(url, db.via('127.0.0.1', relay.port)));
    t.after(() => proxy.close());
    await load(proxy, 5, 2);
    await usageCount(proxy, 5);

    const N = 80;
    let downAt = 0;
    const { statuses } = await load(proxy, N, 4, async (done) => {
      if (done === 20 && !downAt) {
        downAt = Date.now();
        await relay.down();
      }
    });
    assert.equal(statuses.length, N);
    assert.deepEqual(statuses.filter((s) => s !== 200), [], '0 failed requests');
    const during = await waitFor(async () => {
      const m = await metrics(proxy);
      return m.get(series('cliproxy_usage_store_up')) === 0 ? m : undefined;
    }, 5000, 'the store to report down') as Map<string, number>;
    assert.ok(during.get(series('cliproxy_usage_records_buffered'))! > 0, 'records are buffered');
    assert.equal(during.get(series('cliproxy_usage_records_dropped_total')), 0);
    const unavailable = await call(proxy, 'GET', '/usage', undefined, { key: SECRET });
    assert.equal(unavailable.status, 503, 'reads say the database is unavailable');
    assert.match(unavailable.json.error, /usage database unavailable/);
    // Retries meanwhile are not logged one by one.
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(logged(proxy, 'cannot write to the database').length, 1, 'the outage is logged once');

    await relay.up();
    const after = await usageCount(proxy, 5 + N, 10_000);
    assert.equal(after.total_tokens, (5 + N) * PER_REQUEST);
    assert.equal((await db.query('SELECT count(*)::int AS n FROM cliproxy_usage')).rows[0].n, 5 + N);
    const m = await metrics(proxy);
    assert.equal(m.get(series('cliproxy_usage_store_up')), 1);
    assert.equal(m.get(series('cliproxy_usage_records_buffered')), 0);
    assert.equal(logged(proxy, 'database writable again').length, 1);
  });

  test('past the buffer bound records are dropped, counted in /metrics and logged once', async (t) => {
    const url = await upstream(t);
    const db = await testDatabase(t);
    const relay = await TcpSwitch.start();
    t.after(() => relay.close());
    await relay.down(); // down from the start: the schema cannot even be created yet
    const proxy = await startProxy(config(url, db.via('127.0.0.1', relay.port), { 'usage-buffer-max-records': 5 }));
    t.after(() => proxy.close());
    const { statuses } = await load(proxy, 12, 3);
    assert.deepEqual(statuses.filter((s) => s !== 200), []);
    const m = await waitFor(async () => {
      const got = await metrics(proxy);
      return got.get(series('cliproxy_usage_records_dropped_total')) === 7 ? got : undefined;
    }, 3000, '7 dropped records') as Map<string, number>;
    assert.equal(m.get(series('cliproxy_usage_records_buffered')), 5);
    assert.equal(logged(proxy, 'buffer full').length, 1);
    assert.equal(logged(proxy, 'cannot write to the database').length, 1, 'down from the start and every write failing: one line');
    assert.equal((await metrics(proxy)).get(series('cliproxy_usage_store_up')), 0);
    await relay.up();
    await usageCount(proxy, 5, 10_000);
    assert.equal((await metrics(proxy)).get(series('cliproxy_usage_records_dropped_total')), 7, 'a counter: it does not go back');
  });

  test('a database that hangs: requests do not wait for it', async (t) => {
    const url = await upstream(t);
    const db = await testDatabase(t);
    const relay = await TcpSwitch.start();
    t.after(() => relay.close());
    const proxy = await startProxy(config(url, db.via('127.0.0.1', relay.port)));
    t.after(() => proxy.close());
    await usageCount(proxy, 0);
    relay.hang();
    const { statuses, times } = await load(proxy, 30, 3);
    assert.deepEqual(statuses.filter((s) => s !== 200), []);
    // A request that waited for the database would take at least its 3 s connect timeout.
    assert.ok(Math.max(...times) < 2500, `slowest request ${Math.max(...times).toFixed(0)} ms`);
    const stuck = await metrics(proxy);
    assert.equal(stuck.get(series('cliproxy_usage_records_buffered')), 30, 'the writer is stuck on the hanging database');
    await relay.up();
    await usageCount(proxy, 30, 15_000);

    // Shutdown while it hangs: one bounded last attempt, and the loss is logged, not waited out.
    const second = await startProxy(config(url, db.via('127.0.0.1', relay.port)));
    await usageCount(second, 30);
    relay.hang();
    await load(second, 3, 1);
    const started = performance.now();
    await second.close();
    const took = performance.now() - started;
    assert.ok(took < 8000, `shutdown took ${took.toFixed(0)} ms`);
    assert.equal(JSON.parse(logged(second, 'records not written before shutdown')[0] ?? '{}').lost, 3);
    await relay.up();
  });

  test('export from SQLite, import into PostgreSQL: the same history, and a second import adds nothing', async (t) => {
    const url = await upstream(t);
    const db = await testDatabase(t);
    const dir = await mkdtemp(join(tmpdir(), 'cliproxy-usage-pg-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const lite = await startProxy(config(url, join(dir, 'usage.db')));
    t.after(() => lite.close());
    await load(lite, 14, 2);
    await (await post(`${lite.baseURL}/chat/completions`, chatBody('no-such-model'))).text();
    const source = await usageCount(lite, 14);
    const exported = await call(lite, 'GET', '/usage/export', undefined, { key: SECRET });
    assert.equal(exported.status, 200);

    const proxy = await startProxy(config(url, db.url));
    t.after(() => proxy.close());
    const imported = await call(proxy, 'POST', '/usage/import', exported.json, { key: SECRET });
    assert.equal(imported.status, 200, imported.text);
    assert.deepEqual(imported.json, { added: 14, skipped: 0, total_requests: 14, failed_requests: 0 });
    assert.deepEqual(await usage(proxy, '?details=all'), await usage(lite, '?details=all'), 'details included');
    assert.equal((await usage(proxy)).total_tokens, source.total_tokens);
    const again = await call(proxy, 'POST', '/usage/import', exported.json, { key: SECRET });
    assert.deepEqual(again.json, { added: 0, skipped: 14, total_requests: 14, failed_requests: 0 });
    // Per-key figures agree across the two backends.
    const [fromLite, fromPg] = await Promise.all([lite, proxy].map(async (p) => credentialFigures((await p.gateway.runtime.observe.usage())!)));
    assert.equal(fromLite!.get(credentialKey('alpha', 0))!.success, 14);
    assert.deepEqual(fromPg, fromLite);
  });

  test('usage-retention-days removes older records at start (PostgreSQL and SQLite alike)', async (t) => {
    const url = await upstream(t);
    const db = await testDatabase(t);
    const dir = await mkdtemp(join(tmpdir(), 'cliproxy-usage-ret-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const day = 86_400_000;
    const detail = (ageDays: number, id: string) => ({
      timestamp: new Date(Date.now() - ageDays * day).toISOString(),
      request_id: id,
      source: 'alpha',
      auth_index: '0',
      tokens: { input_tokens: 1, output_tokens: 1, total_tokens: 2 },
      failed: false,
    });
    const history = { usage: { apis: { 'sk-cli...0001': { models: { m: { details: [detail(40, 'old-1'), detail(31, 'old-2'), detail(2, 'new-1'), detail(0, 'new-2')] } } } } } };
    for (const usageDb of [db.url, join(dir, 'usage.db')]) {
      const keepAll = await startProxy(config(url, usageDb));
      assert.equal((await call(keepAll, 'POST', '/usage/import', history, { key: SECRET })).json.added, 4);
      await keepAll.close();
      const pruning = await startProxy(config(url, usageDb, { 'usage-retention-days': 30 }));
      t.after(() => pruning.close());
      const u = await usage(pruning, '?details=all');
      assert.equal(u.total_requests, 2, usageDb);
      assert.deepEqual(u.apis['sk-cli...0001'].models.m.details.map((d: { request_id: string }) => d.request_id), ['new-1', 'new-2']);
      assert.equal(logged(pruning, 'usage-retention-days').length, 1);
    }
  });

  test('a config reload from a SQLite file to PostgreSQL moves the recording over', async (t) => {
    const url = await upstream(t);
    const db = await testDatabase(t);
    const proxy = await startProxy(config(url, 'local.db'));
    t.after(() => proxy.close());
    await load(proxy, 2, 1);
    await usageCount(proxy, 2);
    await writeFile(proxy.configPath, stringify(config(url, db.url)));
    await waitFor(async () => (await proxy.gateway.runtime.observe.usage())?.shared === true, 5000, 'the PostgreSQL store');
    await load(proxy, 3, 1);
    await usageCount(proxy, 3);
    assert.equal((await db.query('SELECT count(*)::int AS n FROM cliproxy_usage')).rows[0].n, 3);
  });

  test('USAGE_DB_URL wins over usage-db, and the log shows the URL without its password', async (t) => {
    const url = await upstream(t);
    const db = await testDatabase(t);
    const withPassword = new URL(db.url);
    withPassword.password = 'not-a-real-password-xyz'; // trust auth ignores it
    process.env.USAGE_DB_URL = withPassword.toString();
    t.after(() => {
      delete process.env.USAGE_DB_URL;
    });
    const proxy = await startProxy(config(url, 'local.db'));
    t.after(() => proxy.close());
    await load(proxy, 3, 1);
    await usageCount(proxy, 3);
    assert.equal((await db.query('SELECT count(*)::int AS n FROM cliproxy_usage')).rows[0].n, 3);
    await assert.rejects(stat(join(proxy.dir, 'local.db')), 'no SQLite file');
    assert.ok(logged(proxy, 'database schema migrated')[0]?.includes('****'), 'masked URL in the log');
    assert.ok(!proxy.logs.some((l) => l.includes('not-a-real-password-xyz')));
  });
});
