/** Faults: timeouts, resets, truncated bodies, 429 storms, aborted streams. Nothing hangs or leaks. */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { test } from 'node:test';
import { chatBody, post, provider, startProxy } from './helpers/proxy.js';
import { chunk, error, mockUpstream, named, sleep, stall } from './helpers/upstream.js';

const fast = { connect: 0.5, 'first-byte': 0.3, idle: 0.3 };

test('an upstream that stalls before its headers times out and fails over', async (t) => {
  const stalled = await mockUpstream(stall);
  const good = await mockUpstream(named('good'));
  const proxy = await startProxy({
    timeouts: fast,
    'openai-compatibility': [provider('stalled', stalled.url, [{ name: 'a', alias: 'pool' }]), provider('good', good.url, [{ name: 'b', alias: 'pool' }])],
  });
  t.after(async () => Promise.all([proxy.close(), stalled.close(), good.close()]));
  const started = Date.now();
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('pool'));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-cliproxy-attempts'), '2');
  assert.ok(Date.now() - started < 2000);
});

test('a stall before the first stream event fails over; a stall mid-stream ends with an error event and closes the upstream', async (t) => {
  let upstreamClosed = false;
  const stalls = await mockUpstream(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
  });
  const midStall = await mockUpstream(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify(chunk('first'))}\n\n`);
    res.on('close', () => (upstreamClosed = true));
  });
  const proxy = await startProxy({
    timeouts: fast,
    'openai-compatibility': [
      provider('stalls', stalls.url, [{ name: 'a', alias: 'pool' }]),
      provider('mid', midStall.url, [{ name: 'b', alias: 'pool' }]),
    ],
  });
  t.after(async () => Promise.all([proxy.close(), stalls.close(), midStall.close()]));
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('pool', { stream: true }));
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /"first"/);
  assert.match(text, /data: \{"error":\{"message":"upstream mid failed mid-stream: body stalled \(idle timeout\)"/);
  assert.equal(stalls.requests.length, 1, 'the stalled stream was tried first and failed over');
  for (let i = 0; i < 50 && !upstreamClosed; i++) await sleep(10);
  assert.ok(upstreamClosed, 'the stalled upstream socket was closed');
});

test('a truncated JSON body is a 502 with a clear message', async (t) => {
  const up = await mockUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"id":"x","choices":[{"message":{"content":"cut');
  });
  const proxy = await startProxy({ 'request-retry': 0, 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.status, 502);
  const body = (await res.json()) as any;
  assert.equal(body.error.code, 'upstream_invalid_response');
  assert.match(body.error.message, /incomplete or invalid JSON/);
});

test('a body cut by a reset (Content-Length not met) is a 502, and the server keeps serving', async (t) => {
  const up = await mockUpstream((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
    res.write('{"id":"x"');
    setTimeout(() => req.socket.destroy(), 10);
  });
  const proxy = await startProxy({ 'request-retry': 0, 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.status, 502);
  assert.equal(((await res.json()) as any).error.code, 'upstream_error');
  assert.equal((await fetch(`${proxy.url}/healthz`)).status, 200);
});

test('429 storm: bounded attempts, 429 with Retry-After to the client, keys come back after their cooldown', async (t) => {
  let storm = true;
  const handler = (name: string) => (req: any, res: any, r: any) =>
    storm ? error(429, 'rate limited', 'rate_limit_error', { 'retry-after': '1' })(req, res, r) : named(name)(req, res, r);
  const a = await mockUpstream(handler('a'));
  const b = await mockUpstream(handler('b'));
  const keys = [{ 'api-key': 'sk-storm-key-00001' }, { 'api-key': 'sk-storm-key-00002' }];
  const proxy = await startProxy({
    'request-retry': 1,
    'max-retry-interval': 0.5,
    'openai-compatibility': [
      provider('a', a.url, [{ name: 'ma', alias: 'pool' }], { 'api-key-entries': keys }),
      provider('b', b.url, [{ name: 'mb', alias: 'pool' }], { 'api-key-entries': keys }),
    ],
  });
  t.after(async () => Promise.all([proxy.close(), a.close(), b.close()]));
  const responses = await Promise.all(Array.from({ length: 10 }, () => post(`${proxy.baseURL}/chat/completions`, chatBody('pool'))));
  for (const res of responses) {
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
  }
  // 4 credentials; no busy loop: each client request costs at most one round over them.
  const attempts = a.requests.length + b.requests.length;
  assert.ok(attempts <= 4 * 10, `${attempts} upstream attempts`);
  storm = false;
  await sleep(1100);
  const after = await post(`${proxy.baseURL}/chat/completions`, chatBody('pool'));
  assert.equal(after.status, 200);
});

test('1,000 streams aborted by the client leak no sockets, listeners or handles', { timeout: 60_000 }, async (t) => {
  const open = new Set<unknown>();
  const up = await mockUpstream(async (_req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify(chunk('x'))}\n\n`);
    const timer = setInterval(() => res.write(`data: ${JSON.stringify(chunk('y'))}\n\n`), 50);
    res.on('close', () => clearInterval(timer));
  });
  const proxy = await startProxy({ 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const body = JSON.stringify(chatBody('m', { stream: true }));
  const abortOne = () =>
    new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${proxy.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-client-test-key-0001', 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(e)));
      req.end(body);
    });
  const handlesBefore = process.getActiveResourcesInfo().length;
  for (let batch = 0; batch < 20; batch++) await Promise.all(Array.from({ length: 50 }, abortOne));
  for (let i = 0; i < 500 && open.size > 0; i++) await sleep(20);
  assert.equal(open.size, 0, 'every upstream stream was closed');
  const connections = await new Promise<number>((r) => proxy.gateway.server.getConnections((_e, n) => r(n)));
  assert.equal(connections, 0);
  await sleep(50);
  const handlesAfter = process.getActiveResourcesInfo().length;
  assert.ok(handlesAfter - handlesBefore < 20, `handles ${handlesBefore} → ${handlesAfter}`);
  assert.equal(proxy.gateway.server.listenerCount('request'), 1);
  up.handler = named('still serving');
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.status, 200);
});
