/** Upstream proxies: per-key and global proxy-url through real loopback SOCKS5 and HTTP CONNECT proxies. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chatBody, post, provider, startProxy } from './helpers/proxy.js';
import { connectProxy, socks5Server } from './helpers/proxies.js';
import { mockUpstream, named, sse, chunk } from './helpers/upstream.js';

test('per-key SOCKS5 (with auth), global HTTP CONNECT (with auth) and "direct" each carry their key', async (t) => {
  const up = await mockUpstream(named('x'));
  const socks = await socks5Server({ user: 'alice', password: 'pa:ss' });
  const http = await connectProxy({ user: 'bob', password: 'secret' });
  t.after(async () => Promise.all([up.close(), socks.close(), http.close()]));
  const proxy = await startProxy({
    'proxy-url': http.url,
    'openai-compatibility': [
      provider('p', up.url, ['m'], {
        'api-key-entries': [
          { 'api-key': 'sk-key-via-socks-0001', 'proxy-url': `socks5://alice:${encodeURIComponent('pa:ss')}@127.0.0.1:${socks.port}` },
          { 'api-key': 'sk-key-via-global-002' },
          { 'api-key': 'sk-key-direct-000003', 'proxy-url': 'direct' },
        ],
      }),
    ],
  });
  t.after(() => proxy.close());
  for (let i = 0; i < 6; i++) assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('m'))).status, 200);
  assert.equal(up.requests.length, 6);
  // Keep-alive: each proxy opens few tunnels for two requests, and both went through it.
  assert.ok(socks.tunnels.length >= 1 && socks.tunnels.length <= 2, `socks tunnels: ${socks.tunnels.length}`);
  assert.ok(http.tunnels.length >= 1 && http.tunnels.length <= 2, `http tunnels: ${http.tunnels.length}`);
  assert.equal(socks.tunnels[0], `127.0.0.1:${up.port}`);
  assert.equal(http.tunnels[0], `127.0.0.1:${up.port}`);
  const keys = up.requests.map((r) => r.headers.authorization);
  assert.equal(keys.filter((k) => k === 'Bearer sk-key-via-socks-0001').length, 2);
  assert.equal(keys.filter((k) => k === 'Bearer sk-key-direct-000003').length, 2);
  // No proxy password in any log line.
  assert.doesNotMatch(proxy.logs.join('\n'), /pa:ss|pa%3Ass|secret/);
});

test('a global socks5h proxy carries streams too', async (t) => {
  const up = await mockUpstream(sse([chunk('via'), chunk(' socks')]));
  const socks = await socks5Server();
  t.after(async () => Promise.all([up.close(), socks.close()]));
  const proxy = await startProxy({ 'proxy-url': `socks5h://127.0.0.1:${socks.port}`, 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(() => proxy.close());
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { stream: true }));
  const text = await res.text();
  assert.match(text, /"via"/);
  assert.match(text, /" socks"/);
  assert.equal(socks.tunnels.length, 1);
});

test('a proxy that refuses the credentials fails the attempt cleanly (502), without leaking them', async (t) => {
  const up = await mockUpstream(named('x'));
  const http = await connectProxy({ user: 'bob', password: 'right' });
  t.after(async () => Promise.all([up.close(), http.close()]));
  const proxy = await startProxy({ 'request-retry': 0, 'proxy-url': `http://bob:wrong-password@127.0.0.1:${http.port}`, 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(() => proxy.close());
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.status, 502);
  const text = await res.text();
  assert.doesNotMatch(text, /wrong-password/);
  assert.equal(up.requests.length, 0);
});
