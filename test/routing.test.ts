/** Routing end to end: pools, key round-robin, failover, exclusions, cooldowns, retry rounds. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';
import { chatBody, CLIENT_KEY, post, provider, startProxy } from './helpers/proxy.js';
import { completion, error, json, mockUpstream, named, reset, sse, chunk } from './helpers/upstream.js';

const count = (values: string[]) => values.reduce<Record<string, number>>((acc, v) => ((acc[v] = (acc[v] ?? 0) + 1), acc), {});

test('a pool round-robins evenly over its members', async (t) => {
  const up = await mockUpstream(named('x'));
  const proxy = await startProxy({
    'openai-compatibility': [
      provider('p', up.url, [
        { name: 'qwen3.5-plus', alias: 'smart-model' },
        { name: 'glm-5', alias: 'smart-model' },
        { name: 'kimi-k2.5', alias: 'smart-model' },
      ]),
    ],
  });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const models = await (await fetch(`${proxy.baseURL}/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).json() as any;
  assert.deepEqual(models.data.map((m: any) => m.id), ['smart-model'], 'a pool is one entry');
  for (let i = 0; i < 30; i++) assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('smart-model'))).status, 200);
  assert.deepEqual(count(up.requests.map((r) => r.json.model)), { 'qwen3.5-plus': 10, 'glm-5': 10, 'kimi-k2.5': 10 });
});

test('a pool across two providers spreads over both, and keys of one provider round-robin', async (t) => {
  const a = await mockUpstream(named('a'));
  const b = await mockUpstream(named('b'));
  const proxy = await startProxy({
    'openai-compatibility': [
      provider('a', a.url, [{ name: 'm-a', alias: 'shared' }], {
        'api-key-entries': [{ 'api-key': 'sk-a-key-one-00001' }, { 'api-key': 'sk-a-key-two-00002' }, { 'api-key': 'sk-a-key-three-003' }],
      }),
      provider('b', b.url, [{ name: 'm-b', alias: 'shared' }]),
    ],
  });
  t.after(async () => Promise.all([proxy.close(), a.close(), b.close()]));
  for (let i = 0; i < 24; i++) await post(`${proxy.baseURL}/chat/completions`, chatBody('shared'));
  assert.equal(a.requests.length, 12);
  assert.equal(b.requests.length, 12);
  assert.deepEqual(count(a.requests.map((r) => r.headers.authorization!)), {
    'Bearer sk-a-key-one-00001': 4,
    'Bearer sk-a-key-two-00002': 4,
    'Bearer sk-a-key-three-003': 4,
  });
});

test('excluded-models hides exact and wildcard matches (name or alias) from listing and routing', async (t) => {
  const up = await mockUpstream(named('x'));
  const proxy = await startProxy({
    'openai-compatibility': [
      provider('p', up.url, ['gpt-3.5-turbo', 'gpt-4-0613', 'gpt-4o', 'llava-vision', 'text-embedding-3', 'moonshotai/kimi-k2', { name: 'hidden-upstream', alias: 'visible-alias' }], {
        'excluded-models': ['GPT-3.5-turbo', 'gpt-4-*', '*-vision', '*embedding*', '*-k2', 'hidden-*'],
      }),
    ],
  });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const list = await (await fetch(`${proxy.baseURL}/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).json() as any;
  assert.deepEqual(list.data.map((m: any) => m.id), ['gpt-4o']);
  assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('gpt-4-0613'))).status, 404);
  assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('visible-alias'))).status, 404);
  assert.equal(up.requests.length, 0);
});

test('no api-key-entries sends no Authorization; client credentials and cookies never go upstream', async (t) => {
  const up = await mockUpstream(named('x'));
  const proxy = await startProxy({ 'openai-compatibility': [{ name: 'local', 'base-url': up.url, models: [{ name: 'llama3' }] }] });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('llama3'), { cookie: 'session=secret', 'x-api-key': CLIENT_KEY, connection: 'keep-alive, x-custom', 'x-custom': '1' });
  assert.equal(res.status, 200);
  const headers = up.requests[0]!.headers;
  assert.equal(headers.authorization, undefined);
  assert.equal(headers.cookie, undefined);
  assert.equal(headers['x-api-key'], undefined);
  assert.equal(headers['x-custom'], undefined);
  assert.doesNotMatch(JSON.stringify(headers), new RegExp(CLIENT_KEY));
});

test('upstream Set-Cookie is not passed to clients; routing headers name provider and attempts, never the key', async (t) => {
  const up = await mockUpstream(json(completion('c'), 200, { 'set-cookie': 'track=1', 'x-ratelimit-remaining-requests': '99' }));
  const proxy = await startProxy({ 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.headers.get('set-cookie'), null);
  assert.equal(res.headers.get('x-ratelimit-remaining-requests'), '99');
  assert.equal(res.headers.get('x-cliproxy-provider'), 'p');
  assert.equal(res.headers.get('x-cliproxy-attempts'), '1');
  assert.doesNotMatch([...res.headers.values()].join(' '), /upstream-key/);
});

test('failover: a member answering 500 or 401 is skipped and cooled; the client sees one success', async (t) => {
  const bad = await mockUpstream(error(500));
  const denied = await mockUpstream(error(401, 'bad key', 'authentication_error'));
  const good = await mockUpstream(named('good'));
  const proxy = await startProxy({
    'openai-compatibility': [
      provider('bad', bad.url, [{ name: 'b', alias: 'pool' }]),
      provider('denied', denied.url, [{ name: 'd', alias: 'pool' }]),
      provider('good', good.url, [{ name: 'g', alias: 'pool' }]),
    ],
  });
  t.after(async () => Promise.all([proxy.close(), bad.close(), denied.close(), good.close()]));
  const first = await post(`${proxy.baseURL}/chat/completions`, chatBody('pool'));
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-cliproxy-attempts'), '3');
  for (let i = 0; i < 5; i++) assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('pool'))).status, 200);
  // Both failing members are cooling: they saw exactly one request each.
  assert.equal(bad.requests.length, 1);
  assert.equal(denied.requests.length, 1);
  assert.equal(good.requests.length, 6);
});

test('request faults (400, 422, invalid_request_error) come back at once with the upstream body unchanged', async (t) => {
  const body400 = { error: { message: 'messages: too short', type: 'invalid_request_error', param: 'messages', code: 'bad' } };
  const bad = await mockUpstream(json(body400, 400));
  const other = await mockUpstream(named('other'));
  const proxy = await startProxy({
    'openai-compatibility': [provider('bad', bad.url, [{ name: 'b', alias: 'pool' }]), provider('other', other.url, [{ name: 'o', alias: 'pool' }])],
  });
  t.after(async () => Promise.all([proxy.close(), bad.close(), other.close()]));
  // The pool starts with "bad" for the first request.
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('pool'));
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), body400);
  assert.equal(other.requests.length, 0, 'a request fault is not failed over');
  // 5xx saying the context is too long is a request fault too.
  bad.handler = json({ error: { message: 'too long', type: 'invalid_request_error', code: 'context_length_exceeded' } }, 500);
  other.handler = json({ error: { message: 'too long', type: 'invalid_request_error', code: 'context_length_exceeded' } }, 500);
  const res2 = await post(`${proxy.baseURL}/chat/completions`, chatBody('pool'));
  assert.equal(res2.status, 500);
  assert.equal(bad.requests.length + other.requests.length, 2);
});

test('a final upstream error reaches the client with its status and JSON body', async (t) => {
  const up = await mockUpstream(error(503, 'overloaded', 'server_error'));
  const proxy = await startProxy({ 'request-retry': 0, 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.status, 503);
  assert.deepEqual(await res.json(), { error: { message: 'overloaded', type: 'server_error', code: null } });
  // Now the only credential is cooling (60 s after a 5xx): 429 model_cooldown with Retry-After.
  const cooling = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(cooling.status, 429);
  const retryAfter = Number(cooling.headers.get('retry-after'));
  assert.ok(retryAfter > 50 && retryAfter <= 60, `retry-after ${retryAfter}`);
  const body = (await cooling.json()) as any;
  assert.equal(body.error.code, 'model_cooldown');
  assert.equal(up.requests.length, 1);
});

test('429 with Retry-After: the next round waits for the cooldown and succeeds', async (t) => {
  let calls = 0;
  const up = await mockUpstream((req, res, r) => {
    calls++;
    if (calls === 1) return error(429, 'slow down', 'rate_limit_error', { 'retry-after': '1' })(req, res, r);
    return named('ok')(req, res, r);
  });
  const proxy = await startProxy({ 'request-retry': 1, 'max-retry-interval': 5, 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const started = Date.now();
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  const elapsed = Date.now() - started;
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-cliproxy-attempts'), '2');
  assert.ok(elapsed >= 900 && elapsed < 3000, `waited ${elapsed} ms`);
});

test('retry rounds are bounded: attempts = credentials × (1 + request-retry); max-retry-credentials caps a round', async (t) => {
  const up = await mockUpstream(error(429, 'rate limited', 'rate_limit_error', { 'retry-after': '0.1' }));
  const keys = [{ 'api-key': 'sk-k1-000000000001' }, { 'api-key': 'sk-k2-000000000002' }];
  const proxy = await startProxy({ 'request-retry': 2, 'max-retry-interval': 2, 'openai-compatibility': [provider('p', up.url, ['m'], { 'api-key-entries': keys })] });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.status, 429);
  // Round 1 tries both keys; each later round tries those back from their 100 ms cooldown.
  assert.ok(up.requests.length >= 4 && up.requests.length <= 6, `${up.requests.length} attempts`);
  assert.equal(res.headers.get('retry-after'), '0.1');

  const capped = await startProxy({
    'request-retry': 0,
    'max-retry-credentials': 1,
    'openai-compatibility': [provider('p', up.url, ['m'], { 'api-key-entries': keys })],
  });
  t.after(() => capped.close());
  const before = up.requests.length;
  assert.equal((await post(`${capped.baseURL}/chat/completions`, chatBody('m'))).status, 429);
  assert.equal(up.requests.length - before, 1);
});

test('a retry round is skipped when the cooldown is longer than max-retry-interval', async (t) => {
  const up = await mockUpstream(error(429, 'rate limited', 'rate_limit_error', { 'retry-after': '120' }));
  const proxy = await startProxy({ 'request-retry': 3, 'max-retry-interval': 1, 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const started = Date.now();
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.status, 429);
  // A round that waited would wait for the 120 s cooldown: anything well under that proves the skip.
  assert.ok(Date.now() - started < 5000, `answered after ${Date.now() - started} ms`);
  assert.equal(up.requests.length, 1);
  const again = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(again.status, 429);
  assert.equal(((await again.json()) as any).error.code, 'model_cooldown');
  assert.ok(Number(again.headers.get('retry-after')) > 100);
});

test('network failures fail over: connection refused and reset before headers', async (t) => {
  const dead = await mockUpstream(named('x'));
  const deadUrl = dead.url;
  await dead.close();
  const resetting = await mockUpstream(reset);
  const good = await mockUpstream(named('good'));
  const proxy = await startProxy({
    'openai-compatibility': [
      provider('dead', deadUrl, [{ name: 'a', alias: 'pool' }]),
      provider('resetting', resetting.url, [{ name: 'b', alias: 'pool' }]),
      provider('good', good.url, [{ name: 'c', alias: 'pool' }]),
    ],
  });
  t.after(async () => Promise.all([proxy.close(), resetting.close(), good.close()]));
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('pool'));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-cliproxy-attempts'), '3');
  assert.equal(good.requests.length, 1);
});

test('all members unreachable: 502 with an OpenAI-style error that names the cause', async (t) => {
  const dead = await mockUpstream(named('x'));
  const deadUrl = dead.url;
  await dead.close();
  const proxy = await startProxy({ 'request-retry': 0, 'openai-compatibility': [provider('dead', deadUrl, ['m'])] });
  t.after(() => proxy.close());
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.status, 502);
  const body = (await res.json()) as any;
  assert.equal(body.error.code, 'upstream_unreachable');
  assert.match(body.error.message, /connection refused/);
});

test('a stream that ends or fails before its first event fails over to the next member', async (t) => {
  const empty = await mockUpstream(sse([], { done: false }));
  const errorFirst = await mockUpstream(sse([{ error: { message: 'overloaded', type: 'server_error', code: 503 } }]));
  const good = await mockUpstream(sse([chunk('ok'), chunk('', 'upstream-model', 'stop')]));
  const proxy = await startProxy({
    'openai-compatibility': [
      provider('empty', empty.url, [{ name: 'a', alias: 'pool' }]),
      provider('errfirst', errorFirst.url, [{ name: 'b', alias: 'pool' }]),
      provider('good', good.url, [{ name: 'c', alias: 'pool' }]),
    ],
  });
  t.after(async () => Promise.all([proxy.close(), empty.close(), errorFirst.close(), good.close()]));
  const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL, maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'pool', messages: [{ role: 'user', content: 'x' }], stream: true });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  assert.equal(text, 'ok');
  assert.equal(empty.requests.length, 1);
  assert.equal(errorFirst.requests.length, 1);
});

test('streams are relayed chunk by chunk: the client sees chunk 1 before the upstream sends chunk 2', async (t) => {
  let clientSawFirst!: () => void;
  const sawFirst = new Promise<void>((resolve) => (clientSawFirst = resolve));
  let waitedTooLong = false;
  const up = await mockUpstream(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify(chunk('one'))}\n\n`);
    const timer = new Promise<void>((resolve) => setTimeout(() => ((waitedTooLong = true), resolve()), 3000));
    await Promise.race([sawFirst, timer]);
    res.write(`data: ${JSON.stringify(chunk('two'))}\n\n`);
    res.end('data: [DONE]\n\n');
  });
  const proxy = await startProxy({ 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL, maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
  const parts: string[] = [];
  for await (const c of stream) {
    parts.push(c.choices[0]!.delta.content!);
    if (parts.length === 1) clientSawFirst();
  }
  assert.deepEqual(parts, ['one', 'two']);
  assert.equal(waitedTooLong, false, 'chunk 1 was held back until chunk 2');
});

test('an upstream that dies mid-stream ends the client stream with an error event, not a clean end', async (t) => {
  const up = await mockUpstream(async (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify(chunk('partial'))}\n\n`);
    await new Promise((r) => setTimeout(r, 50));
    req.socket.destroy();
  });
  const proxy = await startProxy({ 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { stream: true }));
  const text = await res.text();
  assert.match(text, /partial/);
  assert.match(text, /data: \{"error":\{"message":"upstream p failed mid-stream: connection reset"/);
  assert.doesNotMatch(text, /\[DONE\]/);
  assert.equal(up.requests.length, 1, 'output had started: no retry');
  const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL, maxRetries: 0 });
  up.handler = async (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify(chunk('partial'))}\n\n`);
    setTimeout(() => req.socket.destroy(), 20);
  };
  await assert.rejects(async () => {
    const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
    for await (const _ of stream);
  }, /failed mid-stream/);
});

test('a client that disconnects mid-stream aborts the upstream request at once', async (t) => {
  let upstreamClosedAt = 0;
  const up = await mockUpstream(async (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.on('close', () => (upstreamClosedAt = Date.now()));
    const timer = setInterval(() => res.write(`data: ${JSON.stringify(chunk('tick'))}\n\n`), 20);
    res.on('close', () => clearInterval(timer));
  });
  const proxy = await startProxy({ 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const controller = new AbortController();
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { stream: true }));
  const reader = res.body!.getReader();
  await reader.read();
  const abortedAt = Date.now();
  await reader.cancel();
  controller.abort();
  for (let i = 0; i < 50 && !upstreamClosedAt; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(upstreamClosedAt > 0, 'upstream request was closed');
  assert.ok(upstreamClosedAt - abortedAt < 100, `closed after ${upstreamClosedAt - abortedAt} ms`);
});

