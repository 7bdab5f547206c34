/**
 * /v0/management/claude-api-key, /gemini-api-key, /codex-api-key and hot reload of those lists:
 * masked keys, CLI Proxy API's PUT/PATCH/DELETE shapes, validation, comments kept in config.yaml,
 * and the model table following every change without a restart.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { call, configText, modelIds, waitFor } from './helpers/management.js';
import { post, startProxy, type TestProxy } from './helpers/proxy.js';
import { vendorUpstream } from './helpers/vendors.js';

const CLAUDE_KEY = 'sk-ant-api03-native-secret-7a1f';
const GEMINI_KEY = 'AIzaSy-native-secret-key-33c9';

let proxy: TestProxy;
let claude: Awaited<ReturnType<typeof vendorUpstream>>;
let gemini: Awaited<ReturnType<typeof vendorUpstream>>;

before(async () => {
  claude = await vendorUpstream('anthropic');
  gemini = await vendorUpstream('gemini');
  const extra = `claude-api-key:
  # the team's Anthropic key
  - api-key: "${CLAUDE_KEY}"
    base-url: "${claude.baseUrl}"   # a loopback Anthropic
    models:
      - name: "claude-sonnet-4-5"
        alias: "sonnet"
`;
  proxy = await startProxy(configText(claude.url, extra));
});

after(async () => {
  await proxy.close();
  await claude.close();
  await gemini.close();
});

describe('management: native key lists', () => {
  test('GET masks keys, reveal shows them', async () => {
    const masked = await call(proxy, 'GET', '/claude-api-key');
    assert.equal(masked.status, 200);
    assert.equal(masked.json['claude-api-key'].length, 1);
    assert.notEqual(masked.json['claude-api-key'][0]['api-key'], CLAUDE_KEY);
    assert.ok(!masked.text.includes(CLAUDE_KEY));
    const revealed = await call(proxy, 'GET', '/claude-api-key?reveal=true');
    assert.equal(revealed.json['claude-api-key'][0]['api-key'], CLAUDE_KEY);
    assert.deepEqual((await call(proxy, 'GET', '/gemini-api-key')).json, { 'gemini-api-key': [] });
  });

  test('PUT items adds gemini keys; the model is served at once', async () => {
    const res = await call(proxy, 'PUT', '/gemini-api-key', { items: [{ 'api-key': GEMINI_KEY, 'base-url': gemini.baseUrl, models: [{ name: 'gemini-2.5-flash', alias: 'flash' }] }] });
    assert.equal(res.status, 200, res.text);
    assert.ok((await modelIds(proxy)).includes('flash'));
    const answer = await post(`${proxy.baseURL}/chat/completions`, { model: 'flash', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(((await answer.json()) as any).choices[0].message.content, 'Hello from gemini');
    assert.equal(gemini.requests.at(-1)!.headers['x-goog-api-key'], GEMINI_KEY);
  });

  test('PATCH by masked match changes one field; the file keeps its comments', async () => {
    const masked = (await call(proxy, 'GET', '/claude-api-key')).json['claude-api-key'][0]['api-key'];
    const res = await call(proxy, 'PATCH', '/claude-api-key', { match: masked, value: { models: [{ name: 'claude-opus-4-1', alias: 'opus' }], prefix: 'team' } });
    assert.equal(res.status, 200, res.text);
    const ids = await modelIds(proxy);
    assert.ok(ids.includes('team/opus') && !ids.includes('sonnet'), ids.join(','));
    const text = await readFile(proxy.configPath, 'utf8');
    assert.match(text, /# the team's Anthropic key/);
    assert.match(text, /# a loopback Anthropic/);
    assert.ok(text.includes(CLAUDE_KEY), 'the stored key is kept, not its mask');
  });

  test('invalid edits are refused with the path of the field', async () => {
    const badUrl = await call(proxy, 'PATCH', '/claude-api-key', { index: 0, value: { 'base-url': 'not a url' } });
    assert.equal(badUrl.status, 400);
    assert.match(badUrl.json.error, /claude-api-key\[0\]\.base-url/);
    const noBase = await call(proxy, 'PUT', '/codex-api-key', [{ 'api-key': 'sk-codex', models: [{ name: 'gpt-5' }] }]);
    assert.equal(noBase.status, 400);
    assert.match(noBase.json.error, /codex-api-key\[0\]\.base-url: required/);
    const missing = await call(proxy, 'PATCH', '/gemini-api-key', { match: 'no-such-key', value: { prefix: 'x' } });
    assert.equal(missing.status, 404);
  });

  test('DELETE by api-key and base-url', async () => {
    const wrongBase = await call(proxy, 'DELETE', `/gemini-api-key?api-key=${GEMINI_KEY}&base-url=${encodeURIComponent('https://elsewhere.example')}`);
    assert.equal(wrongBase.status, 404);
    const res = await call(proxy, 'DELETE', `/gemini-api-key?api-key=${GEMINI_KEY}&base-url=${encodeURIComponent(gemini.baseUrl)}`);
    assert.equal(res.status, 200, res.text);
    assert.ok(!(await modelIds(proxy)).includes('flash'));
  });

  test('hot reload: a codex-api-key added to config.yaml is served without a restart', async () => {
    const codex = await vendorUpstream('responses');
    try {
      const text = await readFile(proxy.configPath, 'utf8');
      await writeFile(proxy.configPath, `${text}codex-api-key:\n  - api-key: "sk-codex-reload"\n    base-url: "${codex.baseUrl}"\n    models:\n      - name: "gpt-5-codex"\n        alias: "codex"\n`);
      await waitFor(async () => (await modelIds(proxy)).includes('codex'), 3000, 'the codex model');
      const res = await post(`${proxy.baseURL}/chat/completions`, { model: 'codex', messages: [{ role: 'user', content: 'Hi' }] });
      assert.equal(((await res.json()) as any).choices[0].message.content, 'Hello from responses');
      assert.equal(codex.requests.at(-1)!.headers.authorization, 'Bearer sk-codex-reload');
    } finally {
      await codex.close();
    }
  });
});
