/**
 * Model discovery end to end: a loopback upstream whose GET /models changes over time, failures
 * that keep the last good list, reloads, aliases and exclusions, and the management view.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { call, modelIds, SECRET, waitFor } from './helpers/management.js';
import { chatBody, post, startProxy } from './helpers/proxy.js';
import { completion, json, mockUpstream, type Recorded } from './helpers/upstream.js';

/** An upstream serving chat and a /models list the test changes; `down` makes /models fail. */
async function catalogUpstream(initial: string[]) {
  const state = { ids: initial, down: false };
  const up = await mockUpstream((req, res, rec: Recorded) => {
    if (req.method === 'GET' && rec.path.endsWith('/models')) {
      if (state.down) return json({ error: { message: 'maintenance' } }, 503)(req, res, rec);
      return json({ object: 'list', data: state.ids.map((id) => ({ id, object: 'model' })) })(req, res, rec);
    }
    return json(completion('ok', rec.json?.model))(req, res, rec);
  });
  return { up, state };
}

const yaml = (url: string, extra = '') => `api-keys: ["sk-client-test-key-0001"]
remote-management:
  secret-key: "${SECRET}"
openai-compatibility:
  - name: "auto"
    base-url: "${url}"
    api-key-entries:
      - api-key: "sk-discovery-upstream-key-77"
    discover-interval: 1s
    excluded-models: ["*-embed*"]
${extra}`;

test('models omitted: discovered at start, refreshed on the interval, kept on failure, shown in management', async (t) => {
  const { up, state } = await catalogUpstream(['llama-3', 'qwen-2.5', 'nomic-embed-text']);
  const proxy = await startProxy(yaml(up.url));
  t.after(() => Promise.all([proxy.close(), up.close()]));

  assert.deepEqual(await modelIds(proxy), ['llama-3', 'qwen-2.5'], 'ready when the server listens; exclusions apply');
  const list = up.requests.find((r) => r.method === 'GET')!;
  assert.equal(list.path, '/v1/models');
  assert.equal(list.headers.authorization, 'Bearer sk-discovery-upstream-key-77');
  assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('qwen-2.5'))).status, 200);

  state.ids = ['llama-3', 'mistral-small'];
  await waitFor(async () => (await modelIds(proxy)).includes('mistral-small'), 4000, 'the changed list');
  assert.deepEqual(await modelIds(proxy), ['llama-3', 'mistral-small']);
  assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('qwen-2.5'))).status, 404);

  state.down = true;
  await waitFor(() => proxy.logs.some((l) => /model discovery failed; keeping the last good list \(2 models\)/.test(l)), 4000, 'the failure log');
  assert.deepEqual(await modelIds(proxy), ['llama-3', 'mistral-small'], 'the last good list stays');
  const view = await call(proxy, 'GET', '/openai-compatibility');
  assert.equal(view.status, 200);
  const auto = view.json['discovered-models'].auto;
  assert.deepEqual(auto.models, ['llama-3', 'mistral-small']);
  assert.match(auto.error, /503/);
  assert.equal(auto.stale, true);
  assert.equal(view.json['openai-compatibility'][0].models, undefined, 'the config itself is not rewritten');
  assert.ok(!proxy.logs.join('\n').includes('sk-discovery-upstream-key-77'));

  state.down = false;
  await waitFor(async () => !(await call(proxy, 'GET', '/openai-compatibility')).json['discovered-models'].auto.error, 4000, 'recovery');
});

test('discover-models: true with listed models: aliases apply to what is found; a reload re-discovers', async (t) => {
  const { up, state } = await catalogUpstream(['gpt-oss-120b', 'gpt-oss-20b']);
  const other = await catalogUpstream(['phi-4']);
  const extra = `    discover-models: true
    models:
      - name: "gpt-oss-120b"
        alias: "big"
      - name: "not-served-anymore"
        alias: "gone"
`;
  const proxy = await startProxy(yaml(up.url, extra));
  t.after(() => Promise.all([proxy.close(), up.close(), other.up.close()]));
  assert.deepEqual(await modelIds(proxy), ['big', 'gpt-oss-20b']);
  await post(`${proxy.baseURL}/chat/completions`, chatBody('big'));
  assert.equal(up.requests.at(-1)!.json.model, 'gpt-oss-120b');

  // A reload pointing the provider elsewhere discovers there at once.
  state.ids = ['unused'];
  const text = (await readFile(proxy.configPath, 'utf8')).replace(up.url, other.up.url).replace('discover-interval: 1s', 'discover-interval: 1h');
  await writeFile(proxy.configPath, text);
  await waitFor(async () => (await modelIds(proxy)).join() === 'phi-4', 3000, 'discovery after the reload');
});

test('a provider whose discovery never succeeded serves nothing and says why', async (t) => {
  const proxy = await startProxy(yaml('http://127.0.0.1:9/v1'));
  t.after(() => proxy.close());
  assert.deepEqual(await modelIds(proxy), []);
  const view = await call(proxy, 'GET', '/openai-compatibility');
  assert.match(view.json['discovered-models'].auto.error, /connection refused/);
  assert.deepEqual(view.json['discovered-models'].auto.models, []);
  assert.ok(proxy.logs.some((l) => /model discovery failed; no model list yet/.test(l)));
});
