/**
 * Shutdown as an operator sees it (the built CLI, a client that keeps connections alive): the
 * drain lasts as long as the last request, not the 30 s cap; a second signal exits at once; the
 * demo removes its temp folder however it ends.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { chunk, completion, mockUpstream, sleep } from './helpers/upstream.js';

interface Child {
  readonly child: ChildProcess;
  readonly url: Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  output(): string;
}

function start(script: string, args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, [resolve(script), ...args], { env: { ...process.env, NODE_NO_WARNINGS: '1', ...env } });
  let out = '';
  let resolveUrl: (url: string) => void;
  const url = new Promise<string>((r) => (resolveUrl = r));
  const onData = (d: Buffer) => {
    out += d;
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) resolveUrl(m[1]!);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal, at: performance.now() })),
  );
  return { child, url, exited, output: () => out };
}

async function waitForOutput(child: Child, pattern: RegExp): Promise<void> {
  const until = Date.now() + 15_000; // a process start on a loaded machine
  while (!pattern.test(child.output())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${pattern}`);
    await sleep(10);
  }
}

/** Upstream: /slow answers after 1.2 s; a stream sends 15 events 100 ms apart. */
async function slowUpstream() {
  return mockUpstream(async (_req, res, recorded) => {
    if (recorded.json?.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const events = recorded.json.messages?.[0]?.content === 'endless' ? 1000 : 15;
      for (let i = 0; i < events && !res.destroyed; i++) {
        res.write(`data: ${JSON.stringify(chunk(`e${i} `))}\n\n`);
        await sleep(100);
      }
      res.end('data: [DONE]\n\n');
      return;
    }
    await sleep(1200);
    const body = JSON.stringify(completion('slow answer'));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

async function cliWithUpstream(t: { after(fn: () => unknown): void }, upstreamUrl: string): Promise<Child> {
  const dir = await mkdtemp(join(tmpdir(), 'cliproxy-shutdown-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yaml');
  await writeFile(
    file,
    `port: 0\nhost: 127.0.0.1\napi-keys: [k]\nremote-management:\n  secret-key: "mgmt-secret-for-drain-0001"\nopenai-compatibility:\n  - name: p\n    base-url: ${upstreamUrl}\n    models: [{name: m}]\n`,
  );
  const cli = start('dist/cli.js', ['--config', file]);
  t.after(() => void cli.child.kill('SIGKILL'));
  return cli;
}

const chat = (url: string, dispatcher: Agent, stream: boolean, content = 'hi') =>
  request(`${url}/v1/chat/completions`, {
    method: 'POST',
    dispatcher,
    headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', stream, messages: [{ role: 'user', content }] }),
  });

test('SIGTERM with a keep-alive client: a slow request and a long stream complete, new connections are refused, exit within 1 s of the last', async (t) => {
  const up = await slowUpstream();
  t.after(() => up.close());
  const cli = await cliWithUpstream(t, up.url);
  const url = await cli.url;
  const client = new Agent({ keepAliveTimeout: 60_000, connections: 4 });
  t.after(() => client.close());
  // Warm the pool: connections the client keeps open, idle, when the signal comes.
  await Promise.all([1, 2, 3].map(async () => (await request(`${url}/healthz`, { dispatcher: client })).body.text()));
  const mgmt = await request(`${url}/v0/management/config`, { dispatcher: client, headers: { authorization: 'Bearer mgmt-secret-for-drain-0001' } });
  assert.equal(mgmt.statusCode, 200);
  await mgmt.body.text();

  const slow = chat(url, client, false).then(async (res) => ({ res, text: await res.body.text(), at: performance.now() }));
  const stream = chat(url, client, true).then(async (res) => ({ res, text: await res.body.text(), at: performance.now() }));
  await sleep(300);
  const signalled = performance.now();
  cli.child.kill('SIGTERM');
  await waitForOutput(cli, /shutting down/);
  await assert.rejects(request(`${url}/healthz`, { dispatcher: new Agent() }), /ECONNREFUSED/, 'no new connections during the drain');

  const [s, st] = await Promise.all([slow, stream]);
  assert.equal(s.res.statusCode, 200);
  assert.match(s.text, /slow answer/);
  assert.equal(s.res.headers.connection, 'close', 'an answer sent during the drain says Connection: close');
  assert.equal(st.res.statusCode, 200);
  assert.match(st.text, /e14 [\s\S]*\[DONE\]/, 'the stream ran to its end');
  const exit = await cli.exited;
  const last = Math.max(s.at, st.at);
  assert.equal(exit.code, 0);
  assert.ok(exit.at - last < 1000, `exited ${Math.round(exit.at - last)} ms after the last request`);
  assert.ok(exit.at - signalled < 5000, `drain took ${Math.round(exit.at - signalled)} ms`);
  assert.match(cli.output(), /drained, exiting/);
});

test('a second SIGTERM/SIGINT during the drain exits at once', async (t) => {
  const up = await slowUpstream();
  t.after(() => up.close());
  for (const second of ['SIGINT', 'SIGTERM'] as const) {
    const cli = await cliWithUpstream(t, up.url);
    const url = await cli.url;
    const client = new Agent();
    t.after(() => client.close());
    const res = await chat(url, client, true, 'endless');
    res.body.on('data', () => undefined).on('error', () => undefined);
    cli.child.kill('SIGTERM');
    await waitForOutput(cli, /shutting down/);
    await sleep(200);
    assert.equal(cli.child.exitCode, null, 'still draining the endless stream');
    const sent = performance.now();
    cli.child.kill(second);
    const exit = await cli.exited;
    assert.ok(exit.at - sent < 1000, `exited ${Math.round(exit.at - sent)} ms after the second signal`);
    assert.equal(exit.signal, second, 'it dies of the second signal, as without a handler (shell status 128+n)');
    assert.match(cli.output(), new RegExp(`second ${second}: exiting now`));
  }
});

/** cliproxy-demo-* folders in `dir`. */
const demoFolders = async (dir: string) => (await readdir(dir)).filter((name) => name.startsWith('cliproxy-demo-'));

test('npm run demo removes its temp folder on SIGTERM, on SIGINT and when it exits on an error', async (t) => {
  const tmp = await mkdtemp(join(tmpdir(), 'cliproxy-demo-tmp-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const demo = start('dist/demo.js', ['--port', '0'], { TMPDIR: tmp });
    t.after(() => void demo.child.kill('SIGKILL'));
    const url = await demo.url;
    const [folder] = await demoFolders(tmp);
    assert.ok(folder && existsSync(join(tmp, folder, 'config.yaml')), 'the demo config lives in a temp folder');
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    demo.child.kill(signal);
    assert.equal((await demo.exited).code, 0);
    assert.deepEqual(await demoFolders(tmp), [], `removed on ${signal}`);
  }
  // Port taken: startup fails, the process exits non-zero, and still leaves nothing behind.
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, r));
  t.after(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const failed = start('dist/demo.js', ['--port', String(port)], { TMPDIR: tmp });
  assert.notEqual((await failed.exited).code, 0);
  assert.match(failed.output(), /EADDRINUSE/);
  assert.deepEqual(await demoFolders(tmp), [], 'removed after a failed start');
});

test('npm run demo removes its temp folder when a second signal cuts the drain short', async (t) => {
  const tmp = await mkdtemp(join(tmpdir(), 'cliproxy-demo-tmp-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));
  const demo = start('dist/demo.js', ['--port', '0'], { TMPDIR: tmp });
  t.after(() => void demo.child.kill('SIGKILL'));
  const url = await demo.url;
  assert.equal((await demoFolders(tmp)).length, 1);
  // A long stream from the echo provider keeps the drain busy.
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer your-api-key-1', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openrouter-claude', stream: true, messages: [{ role: 'user', content: 'word '.repeat(400) }] }),
  });
  const reader = res.body!.getReader();
  await reader.read();
  demo.child.kill('SIGINT');
  await waitForOutput(demo, /shutting down/);
  demo.child.kill('SIGINT');
  const exit = await demo.exited;
  assert.equal(exit.signal, 'SIGINT');
  assert.deepEqual(await demoFolders(tmp), [], 'removed even on the forced exit');
  await reader.cancel().catch(() => undefined);
});

test('in process: idle keep-alive connections do not hold the drain; the cap still cuts a stream that does not end', async (t) => {
  const up = await slowUpstream();
  t.after(() => up.close());
  const { startProxy, provider } = await import('./helpers/proxy.js');
  const proxy = await startProxy({ 'api-keys': ['k'], 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(() => proxy.close());
  const client = new Agent({ keepAliveTimeout: 60_000 });
  t.after(() => client.close());
  await (await request(`${proxy.url}/healthz`, { dispatcher: client })).body.text();
  const res = await chat(proxy.url, client, true, 'endless');
  const cut = new Promise<string>((resolve) => {
    res.body.on('data', () => undefined);
    res.body.on('error', (err) => resolve(`error: ${(err as Error).message}`));
    res.body.on('end', () => resolve('end'));
  });
  const started = performance.now();
  await proxy.gateway.close(400);
  const took = performance.now() - started;
  assert.ok(took >= 350 && took < 2000, `drain took ${Math.round(took)} ms with a 400 ms cap`);
  assert.match(await cut, /error|end/);
});
