/** The built CLI (dist/cli.js) as a user runs it: flags, starter config, startup errors, shutdown. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { chunk, mockUpstream } from './helpers/upstream.js';

const CLI = resolve('dist/cli.js');

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[], cwd: string): Run {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, NODE_NO_WARNINGS: '1' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

async function waitFor(check: () => boolean, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cliproxy-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('--help and --version', async (t) => {
  const dir = await tempDir(t);
  const help = run(['--help'], dir);
  assert.equal(await help.exit, 0);
  assert.match(help.stdout(), /--config FILE/);
  const version = run(['--version'], dir);
  assert.equal(await version.exit, 0);
  assert.match(version.stdout(), /^\d+\.\d+\.\d+/);
  const bad = run(['--bogus'], dir);
  assert.equal(await bad.exit, 1);
});

test('an invalid config fails startup naming the key path and line, exit 1, no stack trace', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'config.yaml');
  await writeFile(
    file,
    [
      'port: 0',
      'openai-compatibility:',
      '  - name: ok',
      '    base-url: http://127.0.0.1:1/v1',
      '  - name: broken',
      '    base-url: http://127.0.0.1:1/v1',
      '    api-key-entries:',
      '      - api-key: sk-x',
      '        proxy-url: ftp://proxy.example.com',
      '',
    ].join('\n'),
  );
  const r = run(['--config', file], dir);
  assert.equal(await r.exit, 1);
  assert.match(r.stderr(), /config\.yaml:9: openai-compatibility\[1\]\.api-key-entries\[0\]\.proxy-url: expected http, https, socks5, socks5h URL or "direct"/);
  assert.doesNotMatch(r.stderr(), /\n\s+at /);

  await writeFile(file, 'port: 0\napi-keys: [a\n  b: c\n');
  const yamlErr = run(['--config', file], dir);
  assert.equal(await yamlErr.exit, 1);
  assert.match(yamlErr.stderr(), /config\.yaml:\d+: invalid YAML/);

  const missing = run(['--config', join(dir, 'nope.yaml')], dir);
  assert.equal(await missing.exit, 1);
  assert.match(missing.stderr(), /nope\.yaml: cannot read config file \(ENOENT\)/);
});

test('first run writes a starter config.yaml with a fresh key, serves it, and SIGTERM exits 0', async (t) => {
  const dir = await tempDir(t);
  const r = run(['--port', '0', '--host', '127.0.0.1'], dir);
  t.after(() => void r.child.kill('SIGKILL'));
  await waitFor(() => /listening on (http:\/\/\S+)/.test(r.stdout()));
  const key = /Your client API key: (\S+)/.exec(r.stdout())![1]!;
  const url = /listening on (http:\/\/\S+)/.exec(r.stdout())![1]!;
  assert.match(key, /^sk-cliproxy-/);
  const written = await readFile(join(dir, 'config.yaml'), 'utf8');
  assert.ok(written.includes(`"${key}"`));
  assert.ok(!written.includes('your-api-key-1'));
  assert.match(r.stdout(), /openrouter-claude/, 'banner lists the exposed models');
  const models = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(models.status, 200);
  r.child.kill('SIGTERM');
  assert.equal(await r.exit, 0);
});

test("CLI Proxy API's own keys are accepted and listed once as not used; an open proxy is warned about", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'config.yaml');
  await writeFile(
    file,
    [
      'port: 0',
      'auth-dir: "~/.cli-proxy-api"',
      'usage-statistics-enabled: false',
      'gemini-api-key:',
      '  - api-key: "AIza..."',
      'claude-api-key: []',
      'remote-management:',
      '  allow-remote: false',
      '  secret-key: ""',
      'proxy-url: ""',
      'openai-compatibility: []',
      '',
    ].join('\n'),
  );
  const r = run(['--config', file, '--host', '127.0.0.1'], dir);
  t.after(() => void r.child.kill('SIGKILL'));
  await waitFor(() => /listening on/.test(r.stdout()));
  assert.match(r.stdout(), /not used by cliproxy.*auth-dir/);
  // The native key lists are read (a gemini key without models serves the Gemini catalog).
  assert.doesNotMatch(r.stdout(), /not used by cliproxy.*(gemini-api-key|claude-api-key)/);
  assert.match(r.stdout(), /gemini-2\.5-pro +-> +gemini-api-key\[0\]:gemini-2\.5-pro/);
  assert.doesNotMatch(r.stdout(), /not used by cliproxy.*usage-statistics-enabled/); // cliproxy reads it (usage statistics)
  assert.match(r.stdout(), /NO API-KEYS CONFIGURED/);
  r.child.kill('SIGTERM');
  assert.equal(await r.exit, 0);
});

test('graceful shutdown: SIGTERM lets a stream in flight finish, refuses new connections, exits 0', async (t) => {
  const up = await mockUpstream(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let i = 0; i < 10; i++) {
      res.write(`data: ${JSON.stringify(chunk(`c${i}`))}\n\n`);
      await new Promise((r) => setTimeout(r, 50));
    }
    res.end('data: [DONE]\n\n');
  });
  t.after(() => up.close());
  const dir = await tempDir(t);
  const file = join(dir, 'config.yaml');
  await writeFile(file, `port: 0\nhost: 127.0.0.1\napi-keys: [k]\nopenai-compatibility:\n  - name: p\n    base-url: ${up.url}\n    models: [{name: m}]\n`);
  const r = run(['--config', file], dir);
  t.after(() => void r.child.kill('SIGKILL'));
  await waitFor(() => /listening on/.test(r.stdout()));
  const url = /listening on (http:\/\/\S+)/.exec(r.stdout())![1]!;
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [], stream: true }),
  });
  const reader = res.body!.getReader();
  await reader.read();
  r.child.kill('SIGTERM');
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
  }
  assert.match(text, /c9/);
  assert.match(text, /\[DONE\]/);
  assert.equal(await r.exit, 0);
  await assert.rejects(fetch(`${url}/healthz`));
});

test("npm run demo answers the seed's curl example with no internet", async (t) => {
  const dir = await tempDir(t);
  const child = spawn(process.execPath, [resolve('dist/demo.js'), '--port', '0'], { cwd: dir, env: { ...process.env, NODE_NO_WARNINGS: '1' } });
  t.after(() => void child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await waitFor(() => /listening on (http:\/\/\S+)/.test(out));
  const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer your-api-key-1', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openrouter-claude', messages: [{ role: 'user', content: 'Hello' }] }),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as any;
  assert.match(body.choices[0].message.content, /You said: Hello/);
  const exit = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  assert.equal(await exit, 0);
});
