/**
 * No operator edit of config.yaml is ever lost: cliproxy's own write-backs (hashing a plaintext
 * management secret, management edits) are compare-and-swaps against the file on disk.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compare } from 'bcryptjs';
import { swapIfUnchanged } from '../src/config/cas-write.js';
import { call, waitFor } from './helpers/management.js';
import { CLIENT_KEY, startProxy, type TestProxy } from './helpers/proxy.js';
import { sleep } from './helpers/upstream.js';

const PASSWORD = 'env-management-password-0001';
const ROUNDS = Number(process.env.CAS_ROUNDS ?? 4);
const WRITES_PER_ROUND = 12;

/** One version of the operator's file: `marker` is visible in the served config, `secret` is plaintext. */
const version = (marker: number, secret: string) => `# operator version ${marker}
api-keys:
  - "${CLIENT_KEY}"
request-retry: 2            # management PATCHes race on this one
max-retry-interval: ${marker}   # the version marker
remote-management:
  secret-key: "${secret}"   # plaintext: cliproxy stores its hash
openai-compatibility: []
`;

/** The file with its secret line blanked (the plaintext is replaced by a hash on write-back). */
const withoutSecret = (text: string) => text.replace(/secret-key: .*/, 'secret-key: (secret)');
const secretIn = (text: string) => /secret-key: "?([^"\s]+)"?/.exec(text)?.[1];

async function writeInPlace(path: string, text: string): Promise<void> {
  await writeFile(path, text);
}

async function writeByRename(path: string, text: string): Promise<void> {
  const temp = `${path}.${randomBytes(3).toString('hex')}.new`;
  await writeFile(temp, text);
  await rename(temp, path);
}

/** Until stopped: PATCHes request-retry; every answer must be 200 or 409 (file changed under the edit). */
function patchLoop(proxy: TestProxy, statuses: number[]): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      const res = await call(proxy, 'PATCH', '/request-retry', { value: 4 + (i % 3) }, { key: PASSWORD });
      statuses.push(res.status);
      await sleep(Math.random() * 30);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** Settled: the served text is the file's text, and nothing rewrites the file for a while. */
async function settledFile(proxy: TestProxy, marker: number): Promise<string> {
  let last = '';
  let since = Date.now();
  return waitFor(async () => {
    const text = await readFile(proxy.configPath, 'utf8');
    if (text !== last) [last, since] = [text, Date.now()];
    const served = proxy.gateway.store.current();
    const hashed = /secret-key: "?\$2[aby]\$/.test(text);
    return Date.now() - since > 400 && served.text === text && served.config['max-retry-interval'] === marker && hashed ? text : "";
  }, 8000, `version ${marker} to be served and hashed`);
}

/**
 * The operator at their worst: as soon as cliproxy starts a write-back (its temp file appears in
 * the directory), `write` is called, so that the save lands between cliproxy's read and its rename.
 */
function saveDuringNextWriteBack(dir: string, write: () => Promise<void>): { done: Promise<'raced' | 'timeout'> } {
  let fire: (how: 'raced' | 'timeout') => void;
  const done = new Promise<'raced' | 'timeout'>((resolve) => (fire = resolve));
  let fired = false;
  const go = (how: 'raced' | 'timeout') => {
    if (fired) return;
    fired = true;
    watcher.close();
    clearTimeout(timer);
    void write().then(() => fire(how));
  };
  const watcher = watch(dir, (_event, name) => {
    if (name !== null && /^\.config\.yaml\..*\.tmp$/.test(name.toString())) go('raced');
  });
  const timer = setTimeout(() => go('timeout'), 3000);
  return { done };
}

test('config.yaml written in a tight loop (in place and by rename) while cliproxy reloads, hashes the secret and takes PATCHes: the last version wins, every round', async (t) => {
  const proxy = await startProxy(version(0, 'initial-plain-secret-0000'), { management: { password: PASSWORD } });
  t.after(() => proxy.close());
  const statuses: number[] = [];
  let raced = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const write = round % 2 === 0 ? writeByRename : writeInPlace;
    const patches = patchLoop(proxy, statuses);
    for (let i = 1; i <= WRITES_PER_ROUND; i++) {
      await write(proxy.configPath, version(round * 1000 + i, `plain-secret-${round}-${i}-${randomBytes(4).toString('hex')}`));
      // No pause, or one that lands the next save inside a reload → hash → write-back.
      if (Math.random() < 0.7) await sleep(Math.random() * 250);
    }
    await patches.stop();
    const marker = round * 1000 + 999;
    const secret = `final-secret-${round}-${randomBytes(4).toString('hex')}`;
    const last = version(marker, secret);
    // The burst's last version (a new plaintext) is being reloaded and hashed: the final save
    // lands in the middle of that write-back (round 3, 4, ...: of a management PATCH's).
    const byPatch = round % 4 >= 2;
    const race = saveDuringNextWriteBack(proxy.dir, () => write(proxy.configPath, last));
    let patched: number | undefined;
    if (byPatch) {
      await waitFor(() => /secret-key: "?\$2/.test(proxy.gateway.store.current().text), 8000, 'the burst to settle');
      const res = await call(proxy, 'PATCH', '/request-retry', { value: 9 }, { key: PASSWORD });
      statuses.push(res.status);
      if (res.status === 200) patched = 9;
    }
    if ((await race.done) === 'raced') raced++;

    const file = await settledFile(proxy, marker);
    // A PATCH that answered 200 was saved before the final version, or applied on top of it.
    const retry = Number(/request-retry: (\d+)/.exec(file)![1]);
    assert.ok(retry === 2 || retry === patched, `round ${round}: request-retry ${retry}, PATCH ${patched}`);
    assert.equal(withoutSecret(file).replace(`request-retry: ${retry}`, 'request-retry: 2'), withoutSecret(last), `round ${round}: the file is the last version written (secret hashed)`);
    assert.ok(await compare(secret, secretIn(file)!), `round ${round}: the stored hash is the last version's secret`);
    const served = await call(proxy, 'GET', '/config', undefined, { key: PASSWORD });
    assert.equal(served.json['max-retry-interval'], marker, `round ${round}: served config is the last version`);
    assert.equal(served.json['request-retry'], retry, `round ${round}: served as in the file`);
    assert.equal((await call(proxy, 'GET', '/config', undefined, { key: secret })).status, 200, 'the last secret is the one in force');
  }
  const unexpected = statuses.filter((s) => s !== 200 && s !== 409);
  assert.deepEqual(unexpected, [], 'PATCHes are applied or refused with 409, nothing else');
  assert.ok(statuses.includes(200), 'some PATCHes went through');
  assert.ok(raced >= ROUNDS / 2, `most final saves raced a write-back (${raced}/${ROUNDS})`);
  // After the race, management edits work as usual.
  assert.equal((await call(proxy, 'PATCH', '/request-retry', { value: 7 }, { key: PASSWORD })).status, 200);
  assert.match(await readFile(proxy.configPath, 'utf8'), /request-retry: 7 {12}# management PATCHes race on this one/);
});

test('a plaintext secret is hashed into the file once; saved again as plaintext it stays as written', async (t) => {
  const proxy = await startProxy(version(1, 'operator-secret-0001'), { management: { password: PASSWORD } });
  t.after(() => proxy.close());
  const first = await readFile(proxy.configPath, 'utf8');
  assert.ok(await compare('operator-secret-0001', secretIn(first)!), 'hashed at startup');
  // A deploy template writes the same plaintext again: served, not rewritten.
  const again = version(2, 'operator-secret-0001');
  await writeByRename(proxy.configPath, again);
  await waitFor(() => proxy.gateway.store.current().config['max-retry-interval'] === 2, 3000, 'reload');
  await sleep(500);
  assert.equal(await readFile(proxy.configPath, 'utf8'), again, 'file left byte-identical');
  assert.equal((await call(proxy, 'GET', '/config', undefined, { key: 'operator-secret-0001' })).status, 200);
  // A new plaintext value is hashed (once).
  await writeByRename(proxy.configPath, version(3, 'operator-secret-0002'));
  const file = await settledFile(proxy, 3);
  assert.ok(await compare('operator-secret-0002', secretIn(file)!));
});

test('swapIfUnchanged writes only over the text it started from', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cliproxy-cas-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'config.yaml');
  await writeFile(path, 'a: 1\n', { mode: 0o600 });
  assert.deepEqual(await swapIfUnchanged(path, 'a: 0\n', 'a: 2\n'), { kind: 'moved', found: 'a: 1\n' });
  assert.equal(await readFile(path, 'utf8'), 'a: 1\n');
  assert.deepEqual(await swapIfUnchanged(path, 'a: 1\n', 'a: 2\n'), { kind: 'written' });
  assert.equal(await readFile(path, 'utf8'), 'a: 2\n');
  assert.equal((await stat(path)).mode & 0o777, 0o600, 'permissions kept');
  await rm(path);
  assert.deepEqual(await swapIfUnchanged(path, 'a: 2\n', 'a: 3\n'), { kind: 'moved', found: undefined }, 'a removed file is not recreated');
  assert.equal((await import('node:fs')).readdirSync(dir).length, 0, 'no temp file left behind');
});

test('PUT config.yaml: If-Match names the version replaced (412 when it changed); a masked download put back is byte-identical', async (t) => {
  const text = `# secrets in every quoting style
api-keys:
  - ${CLIENT_KEY}       # plain
  - 'sk-single-quoted-client-0002'
  - "sk-double-quoted-client-0003"
  - short-key     # masked as ***
remote-management:
  secret-key: ${'$2b$10$'}${'a'.repeat(53)}
openai-compatibility:
  - name: up
    base-url: http://127.0.0.1:9/v1
    api-key-entries:
      - api-key: sk-upstream-plain-key-9999   # plain too
    models:
      - name: m
        alias: first
`;
  const proxy = await startProxy(text, { management: { password: PASSWORD } });
  t.after(() => proxy.close());
  const key = { key: PASSWORD };
  const masked = await call(proxy, 'GET', '/config.yaml', undefined, key);
  assert.ok(masked.text.includes(`  - sk-cli...0001       # plain\n`), 'plain stays plain when masked');
  assert.ok(masked.text.includes(`  - 'sk-sin...0002'\n`) && masked.text.includes(`  - "sk-dou...0003"\n`));
  assert.ok(!masked.text.includes('sk-upstream-plain-key-9999'));
  const etag = masked.headers.get('etag')!;
  assert.match(etag, /^"[0-9a-f]{64}"$/);

  assert.equal((await call(proxy, 'PUT', '/config.yaml', undefined, { ...key, raw: masked.text })).status, 200);
  assert.equal(await readFile(proxy.configPath, 'utf8'), text, 'unchanged round trip: byte-identical');

  const edited = masked.text.replace('alias: first', 'alias: second');
  assert.equal((await call(proxy, 'PUT', '/config.yaml', undefined, { ...key, raw: edited })).status, 200);
  assert.equal(await readFile(proxy.configPath, 'utf8'), text.replace('alias: first', 'alias: second'), 'an edit changes its line only');

  // Someone else saved meanwhile: a PUT based on the version downloaded before is refused.
  const stale = await fetch(`${proxy.url}/v0/management/config.yaml`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${PASSWORD}`, 'if-match': etag, 'content-type': 'application/yaml' },
    body: masked.text.replace('alias: first', 'alias: third'),
  });
  assert.equal(stale.status, 412);
  assert.equal(await readFile(proxy.configPath, 'utf8'), text.replace('alias: first', 'alias: second'), 'nothing written');
  const fresh = await call(proxy, 'GET', '/config.yaml', undefined, key);
  const ok = await fetch(`${proxy.url}/v0/management/config.yaml`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${PASSWORD}`, 'if-match': fresh.headers.get('etag')!, 'content-type': 'application/yaml' },
    body: fresh.text.replace('alias: second', 'alias: third'),
  });
  assert.equal(ok.status, 200);
  assert.equal(await readFile(proxy.configPath, 'utf8'), text.replace('alias: first', 'alias: third'));
});
