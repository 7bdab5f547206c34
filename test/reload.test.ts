/** Hot reload of config.yaml end to end: in-place and rename-replace edits, rejection, streams in flight. */
import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { call, configText, GROQ_KEY, modelIds, OR_KEY, SECRET, waitFor } from './helpers/management.js';
import { CLIENT_KEY, startProxy, type TestProxy } from './helpers/proxy.js';
import { chunk, completion, json, mockUpstream, sleep, sse, type MockUpstream, type Recorded } from './helpers/upstream.js';

const MISTRAL = (url: string) => `  - name: "mistral"
    base-url: "${url}"
    models:
      - name: "mistral-large"
`;

async function setup(t: TestContext, handler = json((r: Recorded) => completion(`${r.headers.authorization}`, r.json?.model))) {
  const up = await mockUpstream(handler);
  const proxy = await startProxy(configText(up.url));
  t.after(async () => {
    await proxy.close();
    await up.close();
  });
  return { up, proxy };
}

/** What an editor does on save: write a new file beside it, rename it over the old one. */
async function renameReplace(proxy: TestProxy, text: string, name = 'config.yaml.swp'): Promise<void> {
  const temp = join(proxy.dir, name);
  await writeFile(temp, text);
  await rename(temp, proxy.configPath);
}

const chat = (proxy: TestProxy, model: string, stream = false) =>
  fetch(`${proxy.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hi' }] }),
  });

const logged = (proxy: TestProxy, pattern: RegExp) => () => proxy.logs.find((line) => pattern.test(line));

describe('hot reload', () => {
  test('an edit of config.yaml in place shows in /v1/models within 2 s, with a one-line summary', async (t) => {
    const { proxy, up } = await setup(t);
    const text = (await readFile(proxy.configPath, 'utf8')).replace('alias: "groq-llama"', 'alias: "groq-fast"') + MISTRAL(up.url);
    await writeFile(proxy.configPath, text);
    const started = Date.now();
    await waitFor(async () => (await modelIds(proxy)).includes('mistral-large'), 2000, 'the new model');
    assert.ok(Date.now() - started < 2000);
    assert.deepEqual(await modelIds(proxy), ['openrouter-claude', 'groq-fast', 'mistral-large']);
    const line = JSON.parse((await waitFor(logged(proxy, /config reloaded \(file\)/)))!);
    assert.equal(line.msg, 'config reloaded (file): providers +mistral ~groq; models +groq-fast +mistral-large -groq-llama');
    for (const secret of [SECRET, OR_KEY, GROQ_KEY]) assert.ok(!proxy.logs.join('\n').includes(secret));
  });

  test('a rename-replace save is picked up, and so is the next one', async (t) => {
    const { proxy, up } = await setup(t);
    const original = await readFile(proxy.configPath, 'utf8');
    await renameReplace(proxy, original + MISTRAL(up.url));
    await waitFor(async () => (await modelIds(proxy)).includes('mistral-large'), 2000, 'first save');
    // A watch on the file itself would be deaf now: the inode it watched is gone.
    await renameReplace(proxy, original.replace('alias: "openrouter-claude"', 'alias: "or-claude"'), '.config.yaml.tmp');
    await waitFor(async () => (await modelIds(proxy)).includes('or-claude'), 2000, 'second save');
    assert.deepEqual(await modelIds(proxy), ['or-claude', 'groq-llama']);
  });

  test('an invalid edit is rejected with its key path, the old models keep serving, a fix is applied', async (t) => {
    const { proxy, up } = await setup(t);
    const original = await readFile(proxy.configPath, 'utf8');
    const generation = proxy.gateway.store.current().generation;
    await writeFile(proxy.configPath, original.replace(`base-url: "${up.url}"`, 'base-url: "not-a-url"'));
    const error = JSON.parse((await waitFor(logged(proxy, /change rejected/), 2000, 'the rejection'))!);
    assert.equal(error.level, 50);
    assert.match(error.msg, /config\.yaml:12: openai-compatibility\[0\]\.base-url: expected an http\(s\) URL/);
    assert.deepEqual(await modelIds(proxy), ['openrouter-claude', 'groq-llama']);
    assert.equal((await chat(proxy, 'openrouter-claude')).status, 200);

    // While the file on disk is broken, a management edit must not overwrite the operator's text.
    const patch = await call(proxy, 'PATCH', '/debug', { value: true });
    assert.equal(patch.status, 409);
    assert.match(patch.json.error, /changed on disk and is invalid/);
    assert.ok((await readFile(proxy.configPath, 'utf8')).includes('not-a-url'));

    await writeFile(proxy.configPath, `${original}\n  - name: [broken\n`);
    await waitFor(logged(proxy, /change rejected[\s\S]*invalid YAML/), 2000, 'the YAML rejection');
    assert.equal(proxy.gateway.store.current().generation, generation);
    assert.deepEqual(await modelIds(proxy), ['openrouter-claude', 'groq-llama']);

    await writeFile(proxy.configPath, original + MISTRAL(up.url));
    await waitFor(async () => (await modelIds(proxy)).includes('mistral-large'), 2000, 'the fixed file');
  });

  test('the server does not reload its own writes a second time', async (t) => {
    const { proxy } = await setup(t);
    const generation = proxy.gateway.store.current().generation;
    assert.equal((await call(proxy, 'PATCH', '/openai-compatibility', { name: 'groq', models: [{ name: 'm2' }] })).status, 200);
    assert.equal((await call(proxy, 'PUT', '/request-retry', { value: 1 })).status, 200);
    // Longer than the debounce: a reload of our own write would have happened by now.
    await sleep(500);
    assert.equal(proxy.gateway.store.current().generation, generation + 2);
    assert.equal(proxy.logs.filter((l) => l.includes('config reloaded (file)')).length, 0);
    assert.equal(proxy.logs.filter((l) => l.includes('config changed (management)')).length, 2);
  });

  test('a stream that started before a reload removing its provider completes normally', async (t) => {
    const events = ['Once ', 'upon ', 'a ', 'time', ''].map((text, i, all) => chunk(text, 'llama', i === all.length - 1 ? 'stop' : null));
    const { proxy } = await setup(t, sse(events, { gapMs: 150 }));
    const res = await chat(proxy, 'groq-llama', true);
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value, { stream: true });
    assert.match(text, /Once/);
    const withoutGroq = (await readFile(proxy.configPath, 'utf8')).replace(/ {2}- name: "groq"[\s\S]*$/, '');
    await writeFile(proxy.configPath, withoutGroq);
    await waitFor(async () => !(await modelIds(proxy)).includes('groq-llama'), 2000, 'groq to be removed');
    assert.equal((await chat(proxy, 'groq-llama')).status, 404, 'new requests see the new config');
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value, { stream: true });
    const content = [...text.matchAll(/^data: (\{.*\})$/gm)].map((m) => JSON.parse(m[1]!).choices[0].delta.content ?? '').join('');
    assert.equal(content, 'Once upon a time');
    assert.ok(text.trimEnd().endsWith('data: [DONE]'));
  });

  test('round-robin cursors and cooldowns of keys that still exist survive a reload', async (t) => {
    const up = await mockUpstream((req, res, r) => {
      if (r.headers.authorization === 'Bearer sk-key-one-000000') return json({ error: { message: 'down', type: 'server_error' } }, 503)(req, res, r);
      return json(completion('ok', r.json?.model))(req, res, r);
    });
    const keys = (names: string[]) => names.map((k) => `      - api-key: "${k}"\n`).join('');
    const text = (extra = '') =>
      `api-keys: ["${CLIENT_KEY}"]\nopenai-compatibility:\n  - name: "pool"\n    base-url: "${up.url}"\n    api-key-entries:\n${keys(['sk-key-one-000000', 'sk-key-two-000000'])}    models:\n      - name: "m"\n${extra}` +
      `  - name: "rr"\n    base-url: "${up.url}"\n    api-key-entries:\n${keys(['sk-rr-one-0000000', 'sk-rr-two-0000000'])}    models:\n      - name: "rr-model"\n`;
    const proxy = await startProxy(text());
    t.after(async () => {
      await proxy.close();
      await up.close();
    });
    const used = () => up.requests.map((r) => r.headers.authorization?.replace('Bearer ', ''));
    assert.equal((await chat(proxy, 'm')).status, 200);
    assert.equal((await chat(proxy, 'rr-model')).status, 200);
    const before = used();
    assert.deepEqual(before, ['sk-key-one-000000', 'sk-key-two-000000', 'sk-rr-one-0000000']);

    await writeFile(proxy.configPath, text() + MISTRAL(up.url));
    await waitFor(async () => (await modelIds(proxy)).includes('mistral-large'), 2000, 'the reload');
    assert.equal((await chat(proxy, 'm')).status, 200);
    assert.equal((await chat(proxy, 'rr-model')).status, 200);
    // key one is still cooling down (not tried again); the rr cursor moved on to its second key.
    assert.deepEqual(used().slice(before.length), ['sk-key-two-000000', 'sk-rr-two-0000000']);
  });
});
