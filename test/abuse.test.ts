/** Bad input, floods, slow clients, fuzzing, secrets in logs, load during reloads. */
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { chatBody, CLIENT_KEY, post, provider, startProxy } from './helpers/proxy.js';
import { connectProxy } from './helpers/proxies.js';
import { error, mockUpstream, named, sleep } from './helpers/upstream.js';

test('wrong content type → 415, body over the limit → 413 (declared or chunked), server lives on', async (t) => {
  const up = await mockUpstream(named('x'));
  const proxy = await startProxy({ 'body-limit-mb': 0.001, 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(async () => Promise.all([proxy.close(), up.close()]));
  const multipart = await post(`${proxy.baseURL}/chat/completions`, '--x\r\n', { 'content-type': 'multipart/form-data; boundary=x' });
  assert.equal(multipart.status, 415);
  assert.equal(((await multipart.json()) as any).error.code, 'unsupported_media_type');
  const big = JSON.stringify(chatBody('m', { pad: 'x'.repeat(5000) }));
  const declared = await post(`${proxy.baseURL}/chat/completions`, big);
  assert.equal(declared.status, 413);
  assert.equal(((await declared.json()) as any).error.code, 'request_too_large');
  const chunked = await fetch(`${proxy.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: new ReadableStream({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new TextEncoder().encode('x'.repeat(1000)));
        c.close();
      },
    }),
    duplex: 'half',
  } as RequestInit);
  assert.equal(chunked.status, 413);
  assert.equal(up.requests.length, 0);
  assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('m'))).status, 200);
});

test('a header flood gets 431 and a slow client sending headers byte by byte is cut off', async (t) => {
  const proxy = await startProxy({ 'openai-compatibility': [] }, { headersTimeoutMs: 500 });
  t.after(() => proxy.close());
  const flood: Record<string, string> = {};
  for (let i = 0; i < 100; i++) flood[`x-flood-${i}`] = 'y'.repeat(500);
  const floodRes = await fetch(`${proxy.baseURL}/models`, { headers: flood }).catch(() => undefined);
  assert.ok(floodRes === undefined || floodRes.status === 431, `status ${floodRes?.status}`);

  const started = Date.now();
  const closedAfter = await new Promise<number>((resolve) => {
    const socket = connect(proxy.gateway.port, '127.0.0.1');
    const text = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200);
    let i = 0;
    const timer = setInterval(() => {
      if (i < text.length && socket.writable) socket.write(text[i++]!);
    }, 20);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve(Date.now() - started);
    });
  });
  assert.ok(closedAfter < 3000, `slow client cut after ${closedAfter} ms`);
  assert.equal((await fetch(`${proxy.url}/healthz`)).status, 200);
});

/** mulberry32: a small seeded PRNG, so the fuzz cases are the same on every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function fuzzCase(random: () => number): string {
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const valid = JSON.stringify(chatBody('m', { temperature: 0.5, stream: random() < 0.3, tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }));
  const values = [null, true, 0, -1, 1e308, '', 'm', 'M', 'unknown', [], {}, [1, 'a'], { model: 'm' }, '\u0000', 'ü🙂'];
  switch (pick(['bytes', 'value', 'mutate', 'truncate', 'field'] as const)) {
    case 'bytes':
      return Array.from({ length: Math.floor(random() * 64) }, () => String.fromCharCode(Math.floor(random() * 256))).join('');
    case 'value':
      return JSON.stringify(pick(values));
    case 'truncate':
      return valid.slice(0, Math.floor(random() * valid.length));
    case 'field': {
      const body: Record<string, unknown> = JSON.parse(valid);
      body[pick(['model', 'messages', 'stream', 'tools', 'extra'])] = pick(values);
      return JSON.stringify(body);
    }
    case 'mutate': {
      const chars = [...valid];
      for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
        const at = Math.floor(random() * chars.length);
        chars[at] = pick(['{', '}', '"', ',', ':', '[', ']', '\\', 'x', '0', ' ', '\n']);
      }
      return chars.join('');
    }
  }
}

test('fuzz: 3,000 random and mutated bodies get only 2xx/4xx answers and the server stays up', async (t) => {
  const up = await mockUpstream(named('x'));
  const proxy = await startProxy({ 'openai-compatibility': [provider('p', up.url, ['m'])] });
  const agent = new Agent({ connections: 16 });
  t.after(async () => Promise.all([proxy.close(), up.close(), agent.close()]));
  const random = prng(20261125);
  const statuses = new Map<number, number>();
  const cases = Array.from({ length: 3000 }, () => fuzzCase(random));
  for (let i = 0; i < cases.length; i += 16) {
    await Promise.all(
      cases.slice(i, i + 16).map(async (body) => {
        const res = await request(`${proxy.baseURL}/chat/completions`, {
          method: 'POST',
          dispatcher: agent,
          headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
          body,
        });
        const text = await res.body.text();
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        assert.ok(res.statusCode < 300 || (res.statusCode >= 400 && res.statusCode < 500), `${res.statusCode} for ${JSON.stringify(body)}: ${text}`);
        if (res.statusCode >= 400) assert.equal(typeof JSON.parse(text).error.message, 'string');
      }),
    );
  }
  assert.ok((statuses.get(200) ?? 0) > 100, `some cases were valid: ${JSON.stringify([...statuses])}`);
  assert.ok((statuses.get(400) ?? 0) > 100, `some cases were invalid: ${JSON.stringify([...statuses])}`);
  assert.equal((await fetch(`${proxy.url}/healthz`)).status, 200);
});

test('no secret appears in any log line (debug level) or error response', async (t) => {
  const secrets = {
    client: CLIENT_KEY,
    upstreamOk: 'sk-upstream-ok-secret-777777',
    upstreamDenied: 'sk-upstream-denied-secret-888888',
    proxyPassword: 'proxy-pass-secret-999',
    management: 'mgmt-secret-value-123456',
  };
  const ok = await mockUpstream(named('ok'));
  const denied = await mockUpstream(error(401, 'invalid key sk-upstream-denied-secret-888888? no', 'authentication_error'));
  const httpProxy = await connectProxy({ user: 'u', password: secrets.proxyPassword });
  const proxy = await startProxy({
    debug: true,
    'remote-management': { 'secret-key': secrets.management },
    'openai-compatibility': [
      provider('ok', ok.url, [{ name: 'a', alias: 'pool' }], {
        'api-key-entries': [{ 'api-key': secrets.upstreamOk, 'proxy-url': `http://u:${secrets.proxyPassword}@127.0.0.1:${httpProxy.port}` }],
      }),
      provider('denied', denied.url, [{ name: 'b', alias: 'pool' }], { 'api-key-entries': [{ 'api-key': secrets.upstreamDenied }] }),
    ],
  });
  t.after(async () => Promise.all([proxy.close(), ok.close(), denied.close(), httpProxy.close()]));
  const bodies: string[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('pool'));
    bodies.push(await res.text());
  }
  bodies.push(await (await post(`${proxy.baseURL}/chat/completions`, chatBody('pool'), { authorization: 'Bearer sk-guessed-key-000000' })).text());
  bodies.push(await (await fetch(`${proxy.url}/v0/management/config`, { headers: { authorization: `Bearer ${secrets.management}` } })).text());
  bodies.push(await (await fetch(`${proxy.url}/v0/management/openai-compatibility`, { headers: { authorization: 'Bearer wrong' } })).text());
  await proxy.close();
  const logs = proxy.logs.join('\n');
  assert.ok(proxy.logs.some((l) => l.includes('upstream attempt')), 'debug attempt lines were logged');
  for (const [name, secret] of Object.entries(secrets)) {
    assert.ok(!logs.includes(secret), `${name} secret in logs`);
    // The denied upstream's own error body is relayed as sent; everything else must be clean.
    if (name !== 'upstreamDenied') for (const body of bodies) assert.ok(!body.includes(secret), `${name} secret in a response: ${body}`);
  }
});

test('load while reconfiguring: 2,000 requests during 20 reloads, zero failures', async (t) => {
  const up = await mockUpstream(named('x'));
  const base = { 'api-keys': [CLIENT_KEY], 'openai-compatibility': [provider('p', up.url, ['m'])] };
  const proxy = await startProxy(base);
  const agent = new Agent({ connections: 32 });
  t.after(async () => Promise.all([proxy.close(), up.close(), agent.close()]));
  let stop = false;
  const reloads = (async () => {
    for (let i = 0; i < 20; i++) {
      const extra = provider(`extra-${i}`, up.url, [`extra-model-${i}`]);
      const next = { ...base, 'request-retry': i % 3, 'openai-compatibility': [...base['openai-compatibility'], extra] };
      const tmp = `${proxy.configPath}.tmp`;
      await writeFile(tmp, stringify(next));
      await rename(tmp, proxy.configPath);
      await sleep(60);
    }
    stop = true;
  })();
  let sent = 0;
  const failures: string[] = [];
  const worker = async () => {
    while (sent < 2000) {
      sent++;
      const res = await request(`${proxy.baseURL}/chat/completions`, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(chatBody('m')),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) failures.push(`${res.statusCode} ${text}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  await reloads;
  assert.ok(stop);
  assert.deepEqual(failures, []);
  assert.ok(sent >= 2000);
  // The reloads really happened: the last extra model is served.
  const models = (await (await fetch(`${proxy.baseURL}/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).json()) as any;
  for (let i = 0; i < 40 && !models.data.some((m: any) => m.id === 'extra-model-19'); i++) {
    await sleep(50);
    Object.assign(models, await (await fetch(`${proxy.baseURL}/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).json());
  }
  assert.ok(models.data.some((m: any) => m.id === 'extra-model-19'));
});
