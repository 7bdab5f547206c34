/**
 * Usage statistics end to end: extraction from bodies and streams (the usage chunk requested from
 * the upstream and hidden from clients that did not ask), totals in SQLite, a restart on the same
 * database, export → import into a fresh one, ranges; and the stream tap on raw chunks.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { stringify } from 'yaml';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { call, waitFor } from './helpers/management.js';
import { sseData, usageUpstream, USAGE } from './helpers/observe.js';
import { CLIENT_KEY, chatBody, post, provider, startProxy, type TestProxy } from './helpers/proxy.js';
import { error, json, mockUpstream, type MockUpstream } from './helpers/upstream.js';
import { requestStreamUsage, UsageTap, usageFromBody } from '../src/observe/usage.js';

const SECRET = 'usage-mgmt-secret-for-tests-1';
const OTHER_KEY = 'sk-client-second-key-0002';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cliproxy-usage-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function config(upstreamUrl: string, badUrl: string, extra: Record<string, unknown> = {}) {
  return {
    'api-keys': [CLIENT_KEY, OTHER_KEY],
    'usage-statistics-enabled': true,
    'remote-management': { 'secret-key': SECRET },
    'openai-compatibility': [provider('alpha', upstreamUrl, [{ name: 'up-model', alias: 'm' }]), provider('beta', badUrl, [{ name: 'x', alias: 'rejected' }])],
    ...extra,
  };
}

async function upstreams(t: TestContext): Promise<{ up: MockUpstream; bad: MockUpstream }> {
  const up = await mockUpstream(usageUpstream());
  const bad = await mockUpstream(error(400, 'bad request', 'invalid_request_error'));
  t.after(() => Promise.all([up.close(), bad.close()]));
  return { up, bad };
}

const usage = async (proxy: { url: string }, query = '') => {
  const res = await call(proxy, 'GET', `/usage${query}`, undefined, { key: SECRET });
  assert.equal(res.status, 200, res.text);
  return res.json.usage;
};

/** 3 non-stream, 2 streams (one asking for usage), 1 rejected by the upstream; returns how many succeeded. */
async function traffic(proxy: TestProxy): Promise<void> {
  const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL, maxRetries: 0 });
  for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
  const quiet = await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { stream: true }));
  const quietEvents = await sseData(quiet);
  assert.equal(quietEvents.at(-1), '[DONE]');
  assert.ok(!quietEvents.some((d) => d.includes('"usage":{')), 'the usage chunk is not passed to a client that did not ask');
  const asked = await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { stream: true, stream_options: { include_usage: true } }), { authorization: `Bearer ${OTHER_KEY}` });
  const askedEvents = await sseData(asked);
  const usageEvent = askedEvents.find((d) => d.includes('"usage":{'));
  assert.ok(usageEvent, 'a client that asked gets the usage chunk');
  assert.deepEqual(JSON.parse(usageEvent).usage, USAGE);
  assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('rejected'))).status, 400);
}

const TOTAL = 6;
const PER_REQUEST = USAGE.total_tokens;

describe('usage statistics', () => {
  test('totals match the requests sent: by day, hour, client key and model, with token details', async (t) => {
    const { up, bad } = await upstreams(t);
    const dir = await tempDir(t);
    const proxy = await startProxy(config(up.url, bad.url, { 'usage-db': join(dir, 'stats.db') }));
    t.after(() => proxy.close());
    await traffic(proxy);

    // What the upstream got: include_usage asked for, the rest of the body byte for byte.
    const streamed = up.requests.filter((r) => r.json?.stream === true);
    assert.equal(streamed[0]!.body, `{"stream_options":{"include_usage":true},${JSON.stringify(chatBody('up-model', { stream: true })).slice(1)}`);
    assert.deepEqual(streamed[1]!.json.stream_options, { include_usage: true });

    const u = await waitFor(async () => {
      const snap = await usage(proxy);
      return snap.total_requests === TOTAL ? snap : undefined;
    });
    assert.equal(u.success_count, 5);
    assert.equal(u.failure_count, 1);
    assert.equal(u.total_tokens, 5 * PER_REQUEST, 'three bodies and two streams reported usage');
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    assert.equal(sum(u.requests_by_day), TOTAL);
    assert.equal(sum(u.requests_by_hour), TOTAL);
    assert.equal(sum(u.tokens_by_day), 5 * PER_REQUEST);
    assert.equal(sum(u.tokens_by_hour), 5 * PER_REQUEST);
    assert.ok(Object.keys(u.requests_by_hour).every((h) => /^\d\d$/.test(h)));
    assert.ok(Object.keys(u.requests_by_day).every((d) => /^\d{4}-\d\d-\d\d$/.test(d)));
    // Client keys appear masked, never in clear.
    assert.deepEqual(Object.keys(u.apis).sort(), ['sk-cli...0001', 'sk-cli...0002']);
    assert.ok(!JSON.stringify(u).includes(CLIENT_KEY) && !JSON.stringify(u).includes(OTHER_KEY));
    const first = u.apis['sk-cli...0001'];
    assert.equal(first.total_requests, 5);
    assert.equal(first.models.m.total_requests, 4);
    assert.equal(first.models.rejected.total_requests, 1);
    assert.equal(u.apis['sk-cli...0002'].models.m.total_tokens, PER_REQUEST);
    const details = first.models.m.details;
    assert.equal(details.length, 4);
    assert.deepEqual(details[0].tokens, { input_tokens: 11, output_tokens: 7, reasoning_tokens: 2, cached_tokens: 4, total_tokens: 18 });
    assert.equal(details[0].source, 'alpha');
    assert.equal(details[0].auth_index, '0');
    assert.equal(details[0].model, 'up-model');
    assert.equal(details[0].client_index, 0);
    assert.equal(details[0].failed, false);
    assert.ok(details.some((d: { ttft_ms?: number }) => typeof d.ttft_ms === 'number'), 'a stream has its time to first chunk');
    const rejected = first.models.rejected.details[0];
    assert.equal(rejected.failed, true);
    assert.equal(rejected.status_code, 400);

    // ?details=none keeps totals; a range in the future is empty; a bad range is a 400.
    const bare = await usage(proxy, '?details=none');
    assert.equal(bare.apis['sk-cli...0001'].models.m.details.length, 0);
    assert.equal(bare.apis['sk-cli...0001'].models.m.total_requests, 4);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    assert.equal((await usage(proxy, `?from=${tomorrow}`)).total_requests, 0);
    assert.equal((await usage(proxy, `?from=${Math.floor(Date.now() / 1000) - 3600}&to=${tomorrow}`)).total_requests, TOTAL);
    assert.equal((await usage(proxy, `?to=${Math.floor(Date.now() / 1000) - 3600}`)).total_requests, 0);
    assert.equal((await call(proxy, 'GET', '/usage?from=yesterday', undefined, { key: SECRET })).status, 400);
    assert.equal((await call(proxy, 'GET', '/usage', undefined, { key: null })).status, 401);
  });

  test('records survive a restart on the same database file; export → import into a fresh database reproduces them', async (t) => {
    const { up, bad } = await upstreams(t);
    const dir = await tempDir(t);
    const db = join(dir, 'kept.db');
    const first = await startProxy(config(up.url, bad.url, { 'usage-db': db }));
    await traffic(first);
    // Closed straight after the last answer: records still queued must be flushed on close.
    await first.close();

    const second = await startProxy(config(up.url, bad.url, { 'usage-db': db }));
    t.after(() => second.close());
    const kept = await usage(second, '?details=all');
    assert.equal(kept.total_requests, TOTAL);
    assert.equal(kept.total_tokens, 5 * PER_REQUEST);
    // The restarted server keeps adding to the same file.
    await (await post(`${second.baseURL}/chat/completions`, chatBody('m'))).text();
    const grown = await waitFor(async () => {
      const snap = await usage(second, '?details=all');
      return snap.total_requests === TOTAL + 1 ? snap : undefined;
    });

    const exported = await call(second, 'GET', '/usage/export', undefined, { key: SECRET });
    assert.equal(exported.status, 200);
    assert.equal(exported.json.version, 1);
    assert.ok(!Number.isNaN(Date.parse(exported.json.exported_at)));

    const fresh = await startProxy(config(up.url, bad.url, { 'usage-db': join(dir, 'fresh.db') }));
    t.after(() => fresh.close());
    assert.equal((await usage(fresh)).total_requests, 0);
    const imported = await call(fresh, 'POST', '/usage/import', exported.json, { key: SECRET });
    assert.equal(imported.status, 200, imported.text);
    assert.deepEqual(imported.json, { added: TOTAL + 1, skipped: 0, total_requests: TOTAL + 1, failed_requests: 1 });
    const copy = await usage(fresh, '?details=all');
    assert.deepEqual(copy, grown, 'the imported statistics equal the exported ones, details included');
    // Importing the same export again adds nothing.
    const again = await call(fresh, 'POST', '/usage/import', exported.json, { key: SECRET });
    assert.deepEqual(again.json, { added: 0, skipped: TOTAL + 1, total_requests: TOTAL + 1, failed_requests: 1 });
    assert.equal((await call(fresh, 'POST', '/usage/import', { nothing: true }, { key: SECRET })).status, 400);
    assert.equal((await call(fresh, 'GET', '/usage/import', undefined, { key: SECRET })).status, 405);
  });

  test('off by default: no database file is created and nothing is recorded', async (t) => {
    const { up, bad } = await upstreams(t);
    const proxy = await startProxy({ ...config(up.url, bad.url), 'usage-statistics-enabled': false });
    t.after(() => proxy.close());
    await (await post(`${proxy.baseURL}/chat/completions`, chatBody('m'))).text();
    await assert.rejects(stat(join(proxy.dir, 'usage.db')), 'no usage.db beside config.yaml');
  });

  test('switched on by a config reload: the database opens and the next requests are recorded', async (t) => {
    const { up, bad } = await upstreams(t);
    const off = { ...config(up.url, bad.url), 'usage-statistics-enabled': false };
    const proxy = await startProxy(off);
    t.after(() => proxy.close());
    await (await post(`${proxy.baseURL}/chat/completions`, chatBody('m'))).text();
    await writeFile(proxy.configPath, stringify({ ...off, 'usage-statistics-enabled': true, 'remote-management': { 'secret-key': SECRET } }));
    await waitFor(() => proxy.gateway.store.current().config['usage-statistics-enabled'], 3000, 'the reload');
    await waitFor(async () => (await stat(join(proxy.dir, 'usage.db')).catch(() => undefined)) !== undefined, 3000, 'usage.db beside config.yaml');
    await (await post(`${proxy.baseURL}/chat/completions`, chatBody('m'))).text();
    const u = await waitFor(async () => {
      const snap = await usage(proxy);
      return snap.total_requests === 1 ? snap : undefined;
    });
    assert.equal(u.total_tokens, PER_REQUEST, 'only the request after the reload');
  });

  test('an Anthropic stream is recorded from the upstream usage chunk; the client sees usage in message_delta', async (t) => {
    const { up, bad } = await upstreams(t);
    const dir = await tempDir(t);
    const proxy = await startProxy(config(up.url, bad.url, { 'usage-db': join(dir, 'a.db') }));
    t.after(() => proxy.close());
    const client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: proxy.url, maxRetries: 0 });
    const stream = client.messages.stream({ model: 'm', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    const final = await stream.finalMessage();
    assert.equal(final.usage.output_tokens, USAGE.completion_tokens);
    const u = await waitFor(async () => {
      const snap = await usage(proxy);
      return snap.total_requests === 1 ? snap : undefined;
    });
    assert.equal(u.total_tokens, PER_REQUEST);
    assert.equal(u.apis['sk-cli...0001'].models.m.details[0].tokens.reasoning_tokens, 2);
  });

  test('a client stream_options without include_usage is completed; an upstream that rejects stream_options gets the body as sent', async (t) => {
    const up = await mockUpstream(usageUpstream({ split: true }));
    const strict = await mockUpstream((req, res, r) => {
      if (r.body.includes('stream_options')) return error(400, 'Unrecognized request argument supplied: stream_options')(req, res, r);
      return usageUpstream()(req, res, r);
    });
    t.after(() => Promise.all([up.close(), strict.close()]));
    const dir = await tempDir(t);
    const proxy = await startProxy(
      config(up.url, strict.url, {
        'usage-db': join(dir, 's.db'),
        'openai-compatibility': [provider('alpha', up.url, [{ name: 'up-model', alias: 'm' }]), provider('strict', strict.url, [{ name: 'old', alias: 'old' }])],
      }),
    );
    t.after(() => proxy.close());
    // Events split across TCP writes: the usage chunk is still found and still removed.
    const events = await sseData(await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { stream: true, stream_options: { include_usage: false } })));
    assert.deepEqual(up.requests[0]!.json.stream_options, { include_usage: true });
    assert.equal(events.length, 4, 'three content chunks and [DONE]');
    assert.ok(events.every((d) => !d.includes('"usage":{')));
    const old = await post(`${proxy.baseURL}/chat/completions`, chatBody('old', { stream: true }));
    assert.equal(old.status, 200);
    assert.equal((await sseData(old)).at(-1), '[DONE]');
    assert.equal(strict.requests.length, 2, 'retried once without stream_options');
    assert.equal(strict.requests[1]!.body, JSON.stringify(chatBody('old', { stream: true })));
    const u = await waitFor(async () => {
      const snap = await usage(proxy);
      return snap.total_requests === 2 ? snap : undefined;
    });
    assert.equal(u.total_tokens, PER_REQUEST, 'the split stream was counted; the old upstream sent no usage');
    assert.equal(u.failure_count, 0);
  });
});

describe('usage extraction (pure)', () => {
  const usageChunk = `data: {"id":"x","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n`;
  const content = `data: {"id":"x","choices":[{"index":0,"delta":{"content":"say \\"usage\\": {1}"}}],"usage":null}\n\n`;

  test('a body: the top-level usage, whatever the content says', () => {
    const body = Buffer.from(JSON.stringify({ choices: [{ message: { content: '"usage": {"prompt_tokens": 99}' } }], usage: { prompt_tokens: 1, completion_tokens: 2 } }));
    assert.deepEqual(usageFromBody(body), { input: 1, output: 2, reasoning: 0, cached: 0, total: 3 });
    assert.equal(usageFromBody(Buffer.from('{"data":[]}')), undefined);
    assert.deepEqual(usageFromBody(Buffer.from('{"usage":{"input_tokens":4,"output_tokens":1,"input_tokens_details":{"cached_tokens":2}}}')), { input: 4, output: 1, reasoning: 0, cached: 2, total: 5 });
  });

  test('a stream tap: usage-only event removed when stripping, split chunks and CRLF handled, other bytes untouched', () => {
    for (const sep of ['\n\n', '\r\n\r\n']) {
      const text = (content + usageChunk + 'data: [DONE]\n\n').replaceAll('\n\n', sep);
      // Two pieces cut anywhere, and many small pieces (no event boundary in most of them).
      const splits = [...Array.from({ length: Math.ceil(text.length / 7) }, (_, i) => [i * 7 + 1]), [1, 3, 7, 50].map((size) => -size)];
      for (const [cut] of splits.flat().map((c) => [c])) {
        const strip = new UsageTap(true);
        const keep = new UsageTap(false);
        const size = -cut!;
        const parts = cut! > 0 ? [Buffer.from(text.slice(0, cut)), Buffer.from(text.slice(cut))] : Array.from({ length: Math.ceil(text.length / size) }, (_, i) => Buffer.from(text.slice(i * size, (i + 1) * size)));
        const stripped = Buffer.concat([...parts.map((p) => strip.chunk(p)), strip.flush() ?? Buffer.alloc(0)]).toString();
        const kept = Buffer.concat([...parts.map((p) => keep.chunk(p)), keep.flush() ?? Buffer.alloc(0)]).toString();
        assert.equal(stripped, text.replace(usageChunk.replace('\n\n', sep), ''), `cut at ${cut}`);
        assert.equal(kept, text);
        assert.deepEqual(strip.usage, { input: 3, output: 2, reasoning: 0, cached: 0, total: 5 });
        assert.deepEqual(keep.usage, strip.usage);
      }
    }
    // A chunk with usage alongside choices (some providers) is never removed.
    const mixed = `data: {"choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}\n\n`;
    const tap = new UsageTap(true);
    assert.equal(tap.chunk(Buffer.from(mixed)).toString(), mixed);
    assert.equal(tap.usage?.total, 2);
  });

  test('include_usage is inserted without re-serialising the body', () => {
    const raw = '{ "model":"m",\n "messages":[{"role":"user","content":"é"}], "stream":true }';
    const asked = requestStreamUsage(raw, JSON.parse(raw));
    assert.equal(asked.body, `{"stream_options":{"include_usage":true}, "model":"m",\n "messages":[{"role":"user","content":"é"}], "stream":true }`);
    assert.equal(asked.clientAsked, false);
    const own = '{"model":"m","stream":true,"stream_options":{"include_usage":true}}';
    assert.deepEqual(requestStreamUsage(own, JSON.parse(own)), { body: own, clientAsked: true });
  });
});
