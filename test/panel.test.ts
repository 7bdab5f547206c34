/**
 * The Management Center against cliproxy: /management.html downloaded from a GitHub-compatible
 * release server on loopback (digest checked, throttled, through proxy-url), and the management
 * routes the panel calls, with the field names its types read.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, stat, utimes, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { releaseApiUrl } from '../src/panel/release.js';
import { call, configText, OR_KEY, SECRET, waitFor } from './helpers/management.js';
import { chatBody, post, startProxy, type TestProxy } from './helpers/proxy.js';
import { completion, error, json, mockUpstream, type MockUpstream } from './helpers/upstream.js';

const PANEL = '<!doctype html><title>Management Center</title><p>panel v1</p>';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

interface ReleaseServer {
  readonly url: string;
  readonly hits: string[];
  html: string;
  digest: string | undefined;
  up: boolean;
  close(): Promise<void>;
}

/** A GitHub-compatible `releases/latest` API whose asset redirects to a download host, as GitHub's does. */
async function releaseServer(): Promise<ReleaseServer> {
  const state = { html: PANEL, digest: `sha256:${sha(PANEL)}` as string | undefined, up: true, hits: [] as string[] };
  const server: Server = createServer((req, res) => {
    state.hits.push(req.url ?? '');
    if (!state.up) return res.destroy();
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (req.url === '/repos/o/panel/releases/latest') {
      const asset: Record<string, unknown> = { name: 'management.html', browser_download_url: `${origin}/download/management.html` };
      if (state.digest) asset.digest = state.digest;
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ tag_name: 'v9.9.9', assets: [{ name: 'other.zip', browser_download_url: `${origin}/x` }, asset] }));
    }
    if (req.url === '/download/management.html') {
      res.writeHead(302, { location: '/cdn/management.html' });
      return res.end();
    }
    if (req.url === '/cdn/management.html') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return res.end(state.html);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/repos/o/panel/releases/latest`;
  return Object.assign(state, {
    url,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  });
}

async function setup(t: TestContext, extra = '', upstream?: MockUpstream): Promise<{ up: MockUpstream; proxy: TestProxy; rel: ReleaseServer }> {
  const up = upstream ?? (await mockUpstream(json(completion('hi'))));
  const rel = await releaseServer();
  const text = configText(up.url).replace('remote-management:\n', `remote-management:\n  panel-github-repository: "${rel.url}"\n${extra}`);
  const proxy = await startProxy(text);
  t.after(async () => {
    await proxy.close();
    await rel.close();
    await up.close();
  });
  return { up, proxy, rel };
}

test('release API URL: repository URLs and API URLs', () => {
  assert.equal(releaseApiUrl('https://github.com/router-for-me/Cli-Proxy-API-Management-Center'), 'https://api.github.com/repos/router-for-me/Cli-Proxy-API-Management-Center/releases/latest');
  assert.equal(releaseApiUrl('https://github.com/o/p.git/'), 'https://api.github.com/repos/o/p/releases/latest');
  assert.equal(releaseApiUrl('https://mirror.example/api/v3/repos/o/p/releases/latest'), 'https://mirror.example/api/v3/repos/o/p/releases/latest');
  assert.equal(releaseApiUrl('https://mirror.example/api/v3/repos/o/p'), 'https://mirror.example/api/v3/repos/o/p/releases/latest');
});

test('/management.html: downloaded on first access, digest checked, served from static/ beside config.yaml', async (t) => {
  const { proxy, rel } = await setup(t);
  const res = await fetch(`${proxy.url}/management.html`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  assert.equal(await res.text(), PANEL);
  const file = join(proxy.dir, 'static', 'management.html');
  assert.equal(await readFile(file, 'utf8'), PANEL);
  // Served from the copy: no second download within 3 h.
  const before = rel.hits.length;
  assert.equal((await fetch(`${proxy.url}/management.html`)).status, 200);
  assert.equal(rel.hits.length, before);
});

test('/management.html: a digest mismatch keeps the old copy; a stale copy is refreshed in the background', async (t) => {
  const { proxy, rel } = await setup(t);
  const file = join(proxy.dir, 'static', 'management.html');
  await mkdir(join(proxy.dir, 'static'), { recursive: true });
  await writeFile(file, 'old panel');
  const old = new Date(Date.now() - 4 * 3600 * 1000);
  await utimes(file, old, old);
  rel.html = 'tampered panel';
  rel.digest = `sha256:${sha(PANEL)}`; // the published digest no longer matches the bytes
  const first = await fetch(`${proxy.url}/management.html`);
  assert.equal(await first.text(), 'old panel');
  await waitFor(() => proxy.logs.some((l) => l.includes('digest mismatch')), 3000, 'the mismatch log line');
  assert.equal(await readFile(file, 'utf8'), 'old panel');
  assert.ok((await stat(file)).mtimeMs < Date.now() - 3600 * 1000, 'the file was not touched');
});

test('/management.html: offline with no copy → a page that says how to get the panel; attempts throttled to one per 30 s', async (t) => {
  const { proxy, rel } = await setup(t);
  rel.up = false;
  const res = await fetch(`${proxy.url}/management.html`);
  assert.equal(res.status, 503);
  const page = await res.text();
  assert.match(page, /not installed/);
  assert.match(page, /static\/management\.html/);
  const tries = rel.hits.length;
  for (let i = 0; i < 5; i++) assert.equal((await fetch(`${proxy.url}/management.html`)).status, 503);
  assert.equal(rel.hits.length, tries, 'no new download attempt within 30 s');
});

test('/management.html: disable-control-panel → 404; disable-auto-update-panel keeps a stale copy', async (t) => {
  const off = await setup(t, '  disable-control-panel: true\n');
  assert.equal((await fetch(`${off.proxy.url}/management.html`)).status, 404);
  assert.equal(off.rel.hits.length, 0);

  const frozen = await setup(t, '  disable-auto-update-panel: true\n');
  const file = join(frozen.proxy.dir, 'static', 'management.html');
  await mkdir(join(frozen.proxy.dir, 'static'), { recursive: true });
  await writeFile(file, 'pinned panel');
  const old = new Date(Date.now() - 24 * 3600 * 1000);
  await utimes(file, old, old);
  assert.equal(await (await fetch(`${frozen.proxy.url}/management.html`)).text(), 'pinned panel');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(frozen.rel.hits.length, 0, 'no update check when auto-update is off');
});

test('/management.html: the download goes through the global proxy-url', async (t) => {
  const rel = await releaseServer();
  let proxied = 0;
  // A plain HTTP forward proxy: absolute-form request lines, relayed to the origin.
  const fwd = createServer(async (req, res) => {
    proxied++;
    const upstream = await fetch(req.url!, { redirect: 'manual' });
    res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  fwd.on('connect', (_req, socket) => socket.destroy()); // undici tunnels with CONNECT: handle below instead
  await new Promise<void>((r) => fwd.listen(0, '127.0.0.1', r));
  const { createConnection } = await import('node:net');
  fwd.removeAllListeners('connect');
  fwd.on('connect', (req, socket, head) => {
    proxied++;
    const [host, port] = (req.url ?? '').split(':');
    const out = createConnection(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      out.write(head);
      out.pipe(socket);
      socket.pipe(out);
    });
    out.on('error', () => socket.destroy());
    socket.on('error', () => out.destroy());
  });
  const up = await mockUpstream(json(completion('hi')));
  const port = (fwd.address() as AddressInfo).port;
  const text = configText(up.url)
    .replace('remote-management:\n', `remote-management:\n  panel-github-repository: "${rel.url}"\n`)
    .replace('request-retry: 3\n', `request-retry: 3\nproxy-url: "http://127.0.0.1:${port}"\n`);
  const proxy = await startProxy(text);
  t.after(async () => {
    await proxy.close();
    await rel.close();
    await up.close();
    fwd.closeAllConnections();
    await new Promise((r) => fwd.close(r));
  });
  assert.equal(await (await fetch(`${proxy.url}/management.html`)).text(), PANEL);
  assert.ok(proxied >= 1, 'the release server was reached through the proxy');
});

test('panel routes: api-key-usage counts each key, keyed base-url|masked key as the provider list shows it', async (t) => {
  const up = await mockUpstream(json(completion('hi')));
  const { proxy } = await setup(t, '', up);
  for (let i = 0; i < 3; i++) assert.equal((await post(`${proxy.url}/v1/chat/completions`, chatBody('openrouter-claude'))).status, 200);
  up.handler = error(400, 'bad');
  assert.equal((await post(`${proxy.url}/v1/chat/completions`, chatBody('openrouter-claude'))).status, 400);

  const providers = await call(proxy, 'GET', '/openai-compatibility');
  const entry = providers.json['openai-compatibility'][0];
  assert.equal(entry['auth-index'], 'openrouter#0');
  assert.equal(entry['api-key-entries'][0]['auth-index'], 'openrouter#0');
  const maskedKey: string = entry['api-key-entries'][0]['api-key'];
  assert.notEqual(maskedKey, OR_KEY);

  const usage = await call(proxy, 'GET', '/api-key-usage');
  assert.equal(usage.status, 200);
  const row = usage.json.openrouter[`${entry['base-url']}|${maskedKey}`];
  assert.ok(row, `row for ${maskedKey}: ${usage.text}`);
  assert.equal(row.success, 3);
  assert.equal(row.failed, 1);
  assert.equal(row.recent_requests.length, 20);
  const last = row.recent_requests.at(-1);
  assert.equal(last.success, 3);
  assert.equal(last.failed, 1);
  assert.ok(!Number.isNaN(Date.parse(last.time)));
  assert.ok(!usage.text.includes(OR_KEY), 'no key in clear');
});

test('panel routes: logs viewer, request logs by id, error logs, latest-version offline, features cliproxy lacks', async (t) => {
  const up = await mockUpstream(json(completion('hi')));
  const { proxy } = await setup(t, '', up);
  // request-log on, then one good and one failed request
  assert.equal((await call(proxy, 'PUT', '/request-log', { value: true })).status, 200);
  const okRes = await post(`${proxy.url}/v1/chat/completions`, chatBody('openrouter-claude'));
  const okId = okRes.headers.get('x-request-id')!;
  await okRes.text();
  up.handler = error(429, 'slow down');
  const bad = await post(`${proxy.url}/v1/chat/completions`, chatBody('groq-llama'));
  await bad.text();

  const byId = await waitFor(async () => {
    const r = await call(proxy, 'GET', `/request-log-by-id/${okId}`);
    return r.status === 200 && r.text.includes('=== end') ? r : undefined;
  }, 3000, 'the request log');
  assert.ok(byId);
  assert.match(byId.text, /POST \/v1\/chat\/completions/);
  assert.ok(!byId.text.includes(OR_KEY));
  assert.equal((await call(proxy, 'GET', '/request-log-by-id/nope-0000')).status, 404);
  assert.equal((await call(proxy, 'GET', '/request-log-by-id/..%2f..%2fconfig')).status, 400);

  const errors = await waitFor(async () => {
    const r = await call(proxy, 'GET', '/request-error-logs');
    return r.json?.files?.length === 1 ? r : undefined;
  }, 3000, 'one error log');
  assert.ok(errors);
  const file = errors.json.files[0];
  assert.equal(typeof file.size, 'number');
  assert.equal(typeof file.modified, 'number');
  const download = await call(proxy, 'GET', `/request-error-logs/${encodeURIComponent(file.name)}`);
  assert.equal(download.status, 200);
  assert.match(download.text, /=== response 429/);
  assert.equal((await call(proxy, 'GET', '/request-error-logs/..%2fconfig.yaml')).status, 400);

  const logs = await call(proxy, 'GET', '/logs');
  assert.equal(logs.status, 200);
  assert.ok(Array.isArray(logs.json.lines));
  assert.equal(logs.json['line-count'], logs.json.lines.length);
  assert.equal(typeof logs.json['latest-timestamp'], 'number');
  const later = await call(proxy, 'GET', `/logs?after=${logs.json['latest-timestamp'] + 3600}`);
  assert.deepEqual(later.json.lines, []);
  assert.equal((await call(proxy, 'GET', '/logs?limit=-1')).status, 400);

  const version = await call(proxy, 'GET', '/latest-version');
  assert.equal(version.status, 502);
  assert.match(version.json.error, /release/);

  assert.deepEqual((await call(proxy, 'GET', '/vertex-api-key')).json, { 'vertex-api-key': [] });
  assert.deepEqual((await call(proxy, 'GET', '/xai-api-key')).json, { 'xai-api-key': [] });
  assert.deepEqual((await call(proxy, 'GET', '/auth-files')).json, { files: [] });
  assert.equal((await call(proxy, 'PUT', '/vertex-api-key', [])).status, 400);
  assert.equal((await call(proxy, 'GET', '/anthropic-auth-url')).status, 400);
  assert.equal((await call(proxy, 'GET', '/api-key-usage', undefined, { key: 'wrong' })).status, 401);
});

test('api-call: reaches a configured provider with its stored key, never another host, port or a redirect target', async (t) => {
  const other = await mockUpstream(json({ stolen: true }));
  const up = await mockUpstream((req, res, rec) => {
    if (rec.path === '/v1/redirect') {
      res.writeHead(302, { location: `${other.url}/models` });
      res.end();
      return;
    }
    if (rec.path === '/v1/echo') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ youSent: req.headers.authorization }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'a=b' });
    res.end(JSON.stringify({ data: [{ id: 'm1' }] }));
  });
  t.after(() => other.close());
  const { proxy } = await setup(t, '', up);

  // $TOKEN$ with the auth-index the provider list gave
  const viaIndex = await call(proxy, 'POST', '/api-call', { authIndex: 'openrouter#0', method: 'GET', url: `${up.url}/models`, header: { Authorization: 'Bearer $TOKEN$' } });
  assert.equal(viaIndex.status, 200, viaIndex.text);
  assert.equal(viaIndex.json.status_code, 200);
  assert.deepEqual(JSON.parse(viaIndex.json.body), { data: [{ id: 'm1' }] });
  assert.equal(up.requests.at(-1)!.headers.authorization, `Bearer ${OR_KEY}`);
  assert.equal(viaIndex.json.header['set-cookie'], undefined);
  assert.deepEqual(viaIndex.json.header['content-type'], ['application/json']);

  // the masked key the panel holds is replaced by the real one
  const list = await call(proxy, 'GET', '/openai-compatibility');
  const masked = list.json['openai-compatibility'][0]['api-key-entries'][0]['api-key'];
  const viaMask = await call(proxy, 'POST', '/api-call', { method: 'POST', url: `${up.url}/chat/completions`, header: { Authorization: `Bearer ${masked}` }, data: '{"model":"m"}' });
  assert.equal(viaMask.json.status_code, 200);
  assert.equal(up.requests.at(-1)!.headers.authorization, `Bearer ${OR_KEY}`);
  assert.equal(up.requests.at(-1)!.body, '{"model":"m"}');

  // an echo of the key comes back masked
  const echo = await call(proxy, 'POST', '/api-call', { authIndex: 'openrouter#0', method: 'GET', url: `${up.url}/echo`, header: { Authorization: 'Bearer $TOKEN$' } });
  assert.ok(!echo.text.includes(OR_KEY));

  // refusals: another port, another host, a path outside base-url, other methods, unknown index
  const before = other.requests.length;
  const otherPort = await call(proxy, 'POST', '/api-call', { authIndex: 'openrouter#0', method: 'GET', url: `${other.url}/models`, header: { Authorization: 'Bearer $TOKEN$' } });
  assert.equal(otherPort.status, 403);
  const otherHost = await call(proxy, 'POST', '/api-call', { method: 'GET', url: up.url.replace('127.0.0.1', 'localhost') + '/models' });
  assert.equal(otherHost.status, 403);
  const outside = await call(proxy, 'POST', '/api-call', { method: 'GET', url: up.url.replace('/v1', '/admin') });
  assert.equal(outside.status, 403);
  assert.equal((await call(proxy, 'POST', '/api-call', { method: 'DELETE', url: `${up.url}/models` })).status, 400);
  assert.equal((await call(proxy, 'POST', '/api-call', { authIndex: 'groq#7', method: 'GET', url: `${up.url}/models` })).status, 400);
  // a redirect off the allowed host is returned, not followed
  const redirect = await call(proxy, 'POST', '/api-call', { authIndex: 'openrouter#0', method: 'GET', url: `${up.url}/redirect`, header: { Authorization: 'Bearer $TOKEN$' } });
  assert.equal(redirect.json.status_code, 302);
  assert.equal(other.requests.length, before, 'nothing reached the other server');
  assert.equal((await call(proxy, 'POST', '/api-call', { method: 'GET', url: `${up.url}/models` }, { key: null })).status, 401);
  void SECRET;
});
