/** The management API end to end: every verb, its error cases, persistence, auth and lockout. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';
import { hash } from 'bcryptjs';
import { pino } from 'pino';
import { parse } from 'yaml';
import { startGateway, type GatewayOptions } from '../src/gateway.js';
import { call, configText, getFrom, GROQ_KEY, modelIds, OR_KEY, SECRET } from './helpers/management.js';
import { CLIENT_KEY, startProxy, type TestProxy } from './helpers/proxy.js';
import { completion, json, mockUpstream, type MockUpstream, type Recorded } from './helpers/upstream.js';

/** An upstream that says which key and X-Title it got, and a proxy with the commented config. */
async function setup(t: TestContext, text: (upstreamUrl: string) => string = configText): Promise<{ up: MockUpstream; proxy: TestProxy }> {
  const up = await mockUpstream(json((r: Recorded) => completion(`${r.headers.authorization}|${r.headers['x-title'] ?? ''}`, r.json?.model)));
  const proxy = await startProxy(text(up.url));
  t.after(async () => {
    await proxy.close();
    await up.close();
  });
  return { up, proxy };
}

/** Starts the gateway with options startProxy does not take (management options). */
async function startWith(t: TestContext, text: string, options: Partial<GatewayOptions>) {
  const dir = await mkdtemp(join(tmpdir(), 'cliproxy-mgmt-'));
  const configPath = join(dir, 'config.yaml');
  await writeFile(configPath, text);
  const logger = pino({ level: 'info' }, new Writable({ write: (_c, _e, cb) => cb() }));
  const gateway = await startGateway({ configPath, port: 0, host: '127.0.0.1', logger, ...options });
  t.after(async () => {
    await gateway.close(1000);
    await rm(dir, { recursive: true, force: true });
  });
  return { url: gateway.url, configPath, port: gateway.port };
}

async function chatContent(proxy: TestProxy, model: string): Promise<string> {
  const res = await fetch(`${proxy.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 200, `chat with ${model}`);
  return ((await res.json()) as any).choices[0].message.content;
}

const noSecretsIn = (text: string) => {
  for (const secret of [SECRET, OR_KEY, GROQ_KEY]) assert.ok(!text.includes(secret), `a secret leaked: ${secret.slice(0, 6)}...`);
};

describe('management: enabling, auth and lockout', () => {
  test('a plaintext secret-key is replaced by its bcrypt hash at startup; the plaintext authenticates', async (t) => {
    const { proxy } = await setup(t);
    const file = await readFile(proxy.configPath, 'utf8');
    assert.ok(!file.includes(SECRET), 'plaintext secret still in the file');
    assert.match(file, /secret-key: "\$2b\$10\$[./A-Za-z0-9]{53}" +# plaintext here: hashed at startup/);
    assert.equal((await call(proxy, 'GET', '/config')).status, 200);
    assert.equal((await call(proxy, 'GET', '/config', undefined, { asHeader: true })).status, 200);
    noSecretsIn(proxy.logs.join('\n'));
  });

  test('an existing $2y$ hash (CLI Proxy API) is accepted as it is', async (t) => {
    const hashed = (await hash('other-secret', 4)).replace(/^\$2b\$/, '$2y$');
    const { proxy } = await setup(t, (url) => configText(url).replace(`"${SECRET}"`, `"${hashed}"`));
    assert.ok((await readFile(proxy.configPath, 'utf8')).includes(hashed), 'hash rewritten');
    assert.equal((await call(proxy, 'GET', '/debug', undefined, { key: 'other-secret' })).status, 200);
    assert.equal((await call(proxy, 'GET', '/debug')).status, 401);
  });

  test('without a secret-key every management path is 404; MANAGEMENT_PASSWORD enables it', async (t) => {
    const up = await mockUpstream(json({}));
    t.after(() => up.close());
    const text = configText(up.url).replace(/remote-management:\n.*\n/, '');
    const off = await startWith(t, text, {});
    for (const path of ['/config', '/openai-compatibility', '/api-keys', '/nope']) {
      const res = await call(off, 'GET', path);
      assert.equal(res.status, 404, path);
      assert.deepEqual(res.json, { error: 'not found' });
    }
    process.env.MANAGEMENT_PASSWORD = 'env-password-123';
    let on;
    try {
      on = await startWith(t, text, {});
    } finally {
      delete process.env.MANAGEMENT_PASSWORD;
    }
    assert.equal((await call(on, 'GET', '/debug', undefined, { key: 'env-password-123' })).status, 200);
    assert.equal((await call(on, 'GET', '/debug', undefined, { key: 'wrong' })).status, 401);
  });

  test('missing or wrong key: 401 with CLI Proxy API messages; unknown path 404; wrong verb 405', async (t) => {
    const { proxy } = await setup(t);
    const missing = await call(proxy, 'GET', '/openai-compatibility', undefined, { key: null });
    assert.equal(missing.status, 401);
    assert.deepEqual(missing.json, { error: 'missing management key' });
    const wrong = await call(proxy, 'GET', '/openai-compatibility', undefined, { key: 'nope' });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.json, { error: 'invalid management key' });
    assert.deepEqual((await call(proxy, 'GET', '/no-such-thing')).json, { error: 'not found' });
    const verb = await call(proxy, 'POST', '/config');
    assert.equal(verb.status, 405);
    assert.equal(verb.headers.get('allow'), 'GET');
    assert.equal(verb.headers.get('cache-control'), 'no-store');
  });

  test('five wrong secrets ban the address for 30 minutes; other addresses are unaffected', async (t) => {
    const { proxy } = await setup(t);
    for (let i = 0; i < 5; i++) assert.equal((await call(proxy, 'GET', '/debug', undefined, { key: `guess-${i}` })).status, 401);
    const banned = await call(proxy, 'GET', '/debug');
    assert.equal(banned.status, 403, 'the right key is refused during the ban');
    assert.match(banned.json.error, /^IP banned due to too many failed attempts\. Try again in (29m5\ds|30m0s)$/);
    assert.ok(Number(banned.headers.get('retry-after')) > 1790);
    const other = await getFrom('127.0.0.2', `${proxy.url}/v0/management/debug`, { authorization: `Bearer ${SECRET}` });
    assert.equal(other.status, 200);
    assert.deepEqual(other.json, { debug: false });
  });

  test('non-loopback clients get 403 unless allow-remote is set', async (t) => {
    const up = await mockUpstream(json({}));
    t.after(() => up.close());
    // Only 127.0.0.1 counts as local here, so 127.0.0.2 exercises the remote path on real sockets.
    const gw = await startWith(t, configText(up.url), { management: { isLocal: (a) => a === '127.0.0.1' || a === '::ffff:127.0.0.1' } });
    const url = `${gw.url}/v0/management/debug`;
    const remote = await getFrom('127.0.0.2', url, { authorization: `Bearer ${SECRET}` });
    assert.equal(remote.status, 403);
    assert.deepEqual(remote.json, { error: 'remote management disabled' });
    assert.equal((await getFrom('127.0.0.1', url, { authorization: `Bearer ${SECRET}` })).status, 200);
    const file = await call(gw, 'GET', '/config.yaml?reveal=true');
    const allowed = file.text.replace(/remote-management:\n/, 'remote-management:\n  allow-remote: true\n');
    assert.equal((await call(gw, 'PUT', '/config.yaml', undefined, { raw: allowed })).status, 200);
    assert.equal((await getFrom('127.0.0.2', url, { authorization: `Bearer ${SECRET}` })).status, 200);
    assert.equal((await getFrom('127.0.0.2', url, { authorization: 'Bearer wrong' })).status, 401);
  });
});

describe('management: openai-compatibility', () => {
  test('GET lists providers with upstream keys masked, in clear with ?reveal=true', async (t) => {
    const { proxy } = await setup(t);
    const res = await call(proxy, 'GET', '/openai-compatibility');
    assert.equal(res.status, 200);
    const list = res.json['openai-compatibility'];
    assert.deepEqual(list.map((p: any) => p.name), ['openrouter', 'groq']);
    assert.equal(list[0]['api-key-entries'][0]['api-key'], 'sk-or-...b780');
    noSecretsIn(res.text);
    const revealed = await call(proxy, 'GET', '/openai-compatibility?reveal=true');
    assert.equal(revealed.json['openai-compatibility'][0]['api-key-entries'][0]['api-key'], OR_KEY);
  });

  test('PATCH (seed shape) changes only the given fields, at once, and the file keeps comments and order', async (t) => {
    const { proxy } = await setup(t);
    const res = await call(proxy, 'PATCH', '/openai-compatibility', { name: 'openrouter', models: [{ name: 'openai/gpt-4-turbo', alias: 'openrouter-gpt4' }] });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'ok' });
    assert.deepEqual(await modelIds(proxy), ['openrouter-gpt4', 'groq-llama']);
    assert.equal(await chatContent(proxy, 'openrouter-gpt4'), `Bearer ${OR_KEY}|`);
    const file = await readFile(proxy.configPath, 'utf8');
    for (const kept of ['# cliproxy test config', '  # the main provider', `  - "${CLIENT_KEY}"   # the test client`, 'debug: false            # verbose logs', 'usage-statistics-enabled: true   # a CLI Proxy API key', `      - api-key: "${OR_KEY}"`]) {
      assert.ok(file.includes(kept), `lost: ${kept}`);
    }
    assert.ok(file.indexOf('api-key-entries') < file.indexOf('openai/gpt-4-turbo'), 'key order changed');
    assert.ok(!file.includes('anthropic/claude-3.5-sonnet'));
    assert.match(file, /alias: "?groq-llama/);
  });

  test('PATCH (CLI Proxy API shape) by name and by index', async (t) => {
    const { proxy } = await setup(t);
    assert.equal((await call(proxy, 'PATCH', '/openai-compatibility', { name: 'groq', value: { prefix: 'g' } })).status, 200);
    assert.deepEqual(await modelIds(proxy), ['openrouter-claude', 'g/groq-llama']);
    assert.equal((await call(proxy, 'PATCH', '/openai-compatibility', { index: 0, value: { headers: { 'X-Title': 'My App' } } })).status, 200);
    assert.equal(await chatContent(proxy, 'openrouter-claude'), `Bearer ${OR_KEY}|My App`);
    const renamed = await call(proxy, 'PATCH', '/openai-compatibility', { index: 1, value: { name: 'groq2', prefix: null } });
    assert.equal(renamed.status, 200);
    const list = (await call(proxy, 'GET', '/openai-compatibility')).json['openai-compatibility'];
    assert.deepEqual(list.map((p: any) => [p.name, p.prefix]), [['openrouter', undefined], ['groq2', undefined]]);
  });

  test('unknown provider → 404 item not found; missing selector or fields → 400', async (t) => {
    const { proxy } = await setup(t);
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['PATCH', '', { name: 'nope', models: [] }, 404, /^item not found$/],
      ['PATCH', '', { index: 7, value: { prefix: 'x' } }, 404, /^item not found$/],
      ['DELETE', '?name=nope', undefined, 404, /^item not found$/],
      ['DELETE', '?index=9', undefined, 404, /^item not found$/],
      ['DELETE', '', undefined, 400, /missing name or index/],
      ['PATCH', '', { models: [] }, 400, /invalid body/],
      ['PATCH', '', { name: 'groq' }, 400, /no fields/],
      ['PUT', '', { providers: [] }, 400, /invalid body/],
    ];
    for (const [method, query, body, status, message] of cases) {
      const res = await call(proxy, method, `/openai-compatibility${query}`, body);
      assert.equal(res.status, status, `${method} ${query} ${JSON.stringify(body)}`);
      assert.match(res.json.error, message);
    }
    const notJson = await call(proxy, 'PATCH', '/openai-compatibility', undefined, { raw: '{"name":' });
    assert.equal(notJson.status, 400);
    assert.match(notJson.json.error, /^invalid body/);
  });

  test('an invalid provider is refused with 400 naming the field, and nothing changes', async (t) => {
    const { proxy } = await setup(t);
    const before = await readFile(proxy.configPath, 'utf8');
    const generation = proxy.gateway.store.current().generation;
    const cases: Array<[string, unknown, RegExp]> = [
      ['PATCH', { name: 'groq', 'base-url': 'not a url' }, /openai-compatibility\[1\]\.base-url: expected an http\(s\) URL/],
      ['PATCH', { name: 'groq', value: { 'api-key-entries': [{ 'api-key': 'k', 'proxy-url': 'ftp://proxy:21' }] } }, /openai-compatibility\[1\]\.api-key-entries\[0\]\.proxy-url: expected http, https, socks5/],
      ['PUT', [{ name: 'x', models: [] }], /openai-compatibility\[0\]\.base-url/],
      ['PUT', { items: [{ name: 'a', 'base-url': 'http://127.0.0.1:9/v1' }, { name: 'a', 'base-url': 'http://127.0.0.1:9/v1' }] }, /duplicate provider name "a"/],
      ['PATCH', { name: 'groq', value: { name: 'openrouter' } }, /duplicate provider name "openrouter"/],
    ];
    for (const [method, body, message] of cases) {
      const res = await call(proxy, method, '/openai-compatibility', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(res.json.error, message);
    }
    assert.equal(await readFile(proxy.configPath, 'utf8'), before);
    assert.equal(proxy.gateway.store.current().generation, generation);
    assert.deepEqual(await modelIds(proxy), ['openrouter-claude', 'groq-llama']);
  });

  test('PUT takes {"openai-compatibility"}, {"items"} or a bare array and replaces the list', async (t) => {
    const { proxy, up } = await setup(t);
    const provider = (name: string, model: string) => ({ name, 'base-url': up.url, 'api-key-entries': [{ 'api-key': `sk-${name}-key-000000` }], models: [{ name: model }] });
    const bodies = [{ 'openai-compatibility': [provider('a', 'model-a')] }, { items: [provider('b', 'model-b'), provider('c', 'model-c')] }, [provider('d', 'model-d')]];
    const expected = [['model-a'], ['model-b', 'model-c'], ['model-d']];
    for (const [i, body] of bodies.entries()) {
      assert.equal((await call(proxy, 'PUT', '/openai-compatibility', body)).status, 200);
      assert.deepEqual(await modelIds(proxy), expected[i]);
    }
    assert.equal(await chatContent(proxy, 'model-d'), 'Bearer sk-d-key-000000|');
    const file = parse(await readFile(proxy.configPath, 'utf8'));
    assert.deepEqual(file['openai-compatibility'].map((p: any) => p.name), ['d']);
    assert.equal(file['usage-statistics-enabled'], true);
  });

  test('GET then PUT of the masked list keeps the real upstream keys; an unknown masked value is refused', async (t) => {
    const { proxy } = await setup(t);
    const list = (await call(proxy, 'GET', '/openai-compatibility')).json['openai-compatibility'];
    list[1].models.push({ name: 'llama-3.1-8b-instant', alias: 'groq-small' });
    assert.equal((await call(proxy, 'PUT', '/openai-compatibility', { 'openai-compatibility': list })).status, 200);
    assert.equal(await chatContent(proxy, 'groq-small'), `Bearer ${GROQ_KEY}|`);
    const file = await readFile(proxy.configPath, 'utf8');
    assert.ok(file.includes(OR_KEY) && file.includes(GROQ_KEY) && !file.includes('...'));
    assert.ok(!file.includes('disabled: false'), 'defaults from GET were written into the file');
    const forged = await call(proxy, 'PATCH', '/openai-compatibility', { name: 'groq', 'api-key-entries': [{ 'api-key': 'sk-abc...wxyz' }] });
    assert.equal(forged.status, 400);
    assert.match(forged.json.error, /masked value/);
  });

  test('DELETE by body name, ?name= and ?index=', async (t) => {
    const { proxy } = await setup(t, (url) => configText(url) + `  - name: third\n    base-url: "${url}"\n    models:\n      - name: third-model\n`);
    assert.deepEqual(await modelIds(proxy), ['openrouter-claude', 'groq-llama', 'third-model']);
    assert.equal((await call(proxy, 'DELETE', '/openai-compatibility', { name: 'groq' })).status, 200);
    assert.deepEqual(await modelIds(proxy), ['openrouter-claude', 'third-model']);
    assert.equal((await call(proxy, 'DELETE', '/openai-compatibility?name=third')).status, 200);
    assert.deepEqual(await modelIds(proxy), ['openrouter-claude']);
    assert.equal((await call(proxy, 'DELETE', '/openai-compatibility?index=0')).status, 200);
    assert.deepEqual(await modelIds(proxy), []);
    assert.ok((await readFile(proxy.configPath, 'utf8')).includes('usage-statistics-enabled: true'));
  });

  test('a CRLF file with unindented lists changes only where it was edited', async (t) => {
    const lines = (models: string[]) =>
      [`api-keys:`, `- "${CLIENT_KEY}"   # the client`, `remote-management:`, `  secret-key: "${SECRET}"`, `openai-compatibility:`, `- name: "groq"        # fast`, `  base-url: "URL"`, `  models:`, ...models, ``].join('\r\n');
    const { proxy } = await setup(t, (url) => lines([`  - name: "llama-3.3-70b"   # big`, `    alias: "groq-llama"`, `  - name: "other"`]).replace('URL', url));
    const hashed = await readFile(proxy.configPath, 'utf8');
    const patch = { name: 'groq', models: [{ name: 'llama-3.3-70b', alias: 'groq-big' }, { name: 'other' }, { name: 'new-one' }] };
    assert.equal((await call(proxy, 'PATCH', '/openai-compatibility', patch)).status, 200);
    const expected = hashed.replace('alias: "groq-llama"', 'alias: "groq-big"').replace('  - name: "other"\r\n', '  - name: "other"\r\n  - name: new-one\r\n');
    assert.equal(await readFile(proxy.configPath, 'utf8'), expected);
    assert.deepEqual(await modelIds(proxy), ['groq-big', 'other', 'new-one']);
  });

  test('20 concurrent PATCHes all land, in memory and on disk', async (t) => {
    const providers = Array.from({ length: 20 }, (_, i) => `  - name: p${i}\n    base-url: "URL"\n    models:\n      - name: m${i}-old\n`).join('');
    const { proxy } = await setup(t, (url) => configText(url) + providers.replaceAll('URL', url));
    const generation = proxy.gateway.store.current().generation;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call(proxy, 'PATCH', '/openai-compatibility', { name: `p${i}`, models: [{ name: `m${i}-new` }] })),
    );
    assert.deepEqual(answers.map((a) => a.status), Array(20).fill(200));
    const ids = await modelIds(proxy);
    for (let i = 0; i < 20; i++) {
      assert.ok(ids.includes(`m${i}-new`), `m${i}-new missing`);
      assert.ok(!ids.includes(`m${i}-old`), `m${i}-old still there`);
    }
    const file = parse(await readFile(proxy.configPath, 'utf8'));
    const onDisk = file['openai-compatibility'].slice(2).map((p: any) => p.models[0].name);
    assert.deepEqual(onDisk, Array.from({ length: 20 }, (_, i) => `m${i}-new`));
    assert.equal(proxy.gateway.store.current().generation, generation + 20);
  });
});

describe('management: api-keys, scalars, config', () => {
  test('api-keys: GET masked, PUT, PATCH old/new and index/value, DELETE ?index and ?value', async (t) => {
    const { proxy } = await setup(t);
    const get = async () => (await call(proxy, 'GET', '/api-keys?reveal=true')).json['api-keys'];
    assert.deepEqual((await call(proxy, 'GET', '/api-keys')).json, { 'api-keys': ['sk-cli...0001'] });
    assert.equal((await call(proxy, 'PUT', '/api-keys', [CLIENT_KEY, 'sk-second-client-key'])).status, 200);
    assert.deepEqual(await get(), [CLIENT_KEY, 'sk-second-client-key']);
    const works = async (key: string) => (await fetch(`${proxy.baseURL}/models`, { headers: { authorization: `Bearer ${key}` } })).status;
    assert.equal(await works('sk-second-client-key'), 200);
    assert.equal((await call(proxy, 'PATCH', '/api-keys', { old: 'sk-second-client-key', new: 'sk-third-client-key' })).status, 200);
    assert.equal(await works('sk-second-client-key'), 401);
    assert.equal(await works('sk-third-client-key'), 200);
    // The masked form GET shows identifies a key too.
    assert.equal((await call(proxy, 'PATCH', '/api-keys', { old: 'sk-thi...-key', new: 'sk-fourth-client-key' })).status, 200);
    assert.equal((await call(proxy, 'PATCH', '/api-keys', { index: 0, value: 'sk-first-renamed-key' })).status, 200);
    assert.deepEqual(await get(), ['sk-first-renamed-key', 'sk-fourth-client-key']);
    assert.equal((await call(proxy, 'PUT', '/api-keys', { items: ['a-key', 'b-key', 'c-key'] })).status, 200);
    assert.equal((await call(proxy, 'DELETE', '/api-keys?index=1')).status, 200);
    assert.equal((await call(proxy, 'DELETE', '/api-keys?value=c-key')).status, 200);
    assert.deepEqual(await get(), ['a-key']);
    const errors: Array<[string, string, unknown, number]> = [
      ['PATCH', '/api-keys', { old: 'nope', new: 'x' }, 404],
      ['PATCH', '/api-keys', { index: 5, value: 'x' }, 404],
      ['PATCH', '/api-keys', { foo: 1 }, 400],
      ['DELETE', '/api-keys?index=5', undefined, 404],
      ['DELETE', '/api-keys?value=nope', undefined, 404],
      ['DELETE', '/api-keys', undefined, 400],
      ['PUT', '/api-keys', { items: [1, 2] }, 400],
    ];
    for (const [method, path, body, status] of errors) {
      const res = await call(proxy, method, path, body);
      assert.equal(res.status, status, `${method} ${path} ${JSON.stringify(body)}`);
      assert.equal(typeof res.json.error, 'string');
    }
    assert.deepEqual(await get(), ['a-key']);
  });

  test('scalars: GET, PUT and PATCH {"value"}; proxy-url DELETE; wrong types are 400', async (t) => {
    const { proxy } = await setup(t);
    assert.deepEqual((await call(proxy, 'GET', '/debug')).json, { debug: false });
    assert.equal((await call(proxy, 'PUT', '/debug', { value: true })).status, 200);
    assert.equal(proxy.gateway.store.current().config.debug, true);
    for (const [key, value] of [['request-retry', 5], ['max-retry-credentials', 2], ['max-retry-interval', 12.5]] as const) {
      assert.equal((await call(proxy, 'PATCH', `/${key}`, { value })).status, 200, key);
      assert.deepEqual((await call(proxy, 'GET', `/${key}`)).json, { [key]: value });
    }
    const proxyUrl = 'socks5://user:pa55word@127.0.0.1:1080';
    assert.deepEqual((await call(proxy, 'GET', '/proxy-url')).json, { 'proxy-url': '' });
    assert.equal((await call(proxy, 'PUT', '/proxy-url', { value: proxyUrl })).status, 200);
    assert.deepEqual((await call(proxy, 'GET', '/proxy-url')).json, { 'proxy-url': 'socks5://user:****@127.0.0.1:1080' });
    assert.deepEqual((await call(proxy, 'GET', '/proxy-url?reveal=true')).json, { 'proxy-url': proxyUrl });
    const file = await readFile(proxy.configPath, 'utf8');
    // The changed line keeps its comment, in the same column.
    assert.ok(file.includes('debug: true             # verbose logs'), 'the comment beside debug moved');
    assert.ok(file.includes('request-retry: 5\n') && file.includes('max-retry-interval: 12.5'));
    assert.equal((await call(proxy, 'DELETE', '/proxy-url')).status, 200);
    assert.equal(proxy.gateway.store.current().config['proxy-url'], undefined);
    const bad: Array<[string, unknown, RegExp]> = [
      ['/debug', { value: 'yes' }, /^debug: /],
      ['/request-retry', { value: -1 }, /^request-retry: /],
      ['/request-retry', { value: 1.5 }, /^request-retry: /],
      ['/proxy-url', { value: 'ftp://x' }, /^proxy-url: expected http/],
      ['/debug', { other: true }, /invalid body/],
    ];
    for (const [path, body, message] of bad) {
      const res = await call(proxy, 'PUT', path, body);
      assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.match(res.json.error, message);
    }
    assert.equal(proxy.gateway.store.current().config.debug, true);
  });

  test('GET config is the effective config as JSON with every secret masked', async (t) => {
    const { proxy } = await setup(t);
    const res = await call(proxy, 'GET', '/config');
    assert.equal(res.status, 200);
    assert.equal(res.json['request-retry'], 3);
    assert.equal(res.json['openai-compatibility'].length, 2);
    assert.deepEqual(res.json['api-keys'], ['sk-cli...0001']);
    assert.match(res.json['remote-management']['secret-key'], /^\$2b\$10\.\.\..{4}$/);
    noSecretsIn(res.text);
    assert.ok(!res.text.includes(proxy.gateway.store.current().config['remote-management']['secret-key']!));
  });

  test('config.yaml: GET masked (raw with ?reveal=true); PUT validates: 400 bad YAML, 422 bad config, nothing written', async (t) => {
    const { proxy } = await setup(t);
    const masked = await call(proxy, 'GET', '/config.yaml');
    assert.equal(masked.status, 200);
    assert.match(masked.headers.get('content-type')!, /yaml/);
    assert.ok(masked.text.includes('# the main provider') && masked.text.includes('"sk-or-...b780"'));
    noSecretsIn(masked.text);
    assert.equal((await call(proxy, 'GET', '/config.yaml?reveal=true')).text, await readFile(proxy.configPath, 'utf8'));

    const before = await readFile(proxy.configPath, 'utf8');
    const badYaml = await call(proxy, 'PUT', '/config.yaml', undefined, { raw: 'openai-compatibility: [\n  - name: x\n' });
    assert.equal(badYaml.status, 400);
    assert.match(badYaml.json.error, /invalid YAML/);
    const badConfig = await call(proxy, 'PUT', '/config.yaml', undefined, { raw: masked.text.replace(/base-url: "[^"]+"/, 'base-url: "nope"') });
    assert.equal(badConfig.status, 422);
    assert.match(badConfig.json.error, /openai-compatibility\[0\]\.base-url/);
    assert.equal((await call(proxy, 'PUT', '/config.yaml', undefined, { raw: '' })).status, 400);
    assert.equal(await readFile(proxy.configPath, 'utf8'), before);

    // The masked text, edited and sent back, keeps the real secrets.
    const edited = masked.text.replace('alias: "groq-llama"', 'alias: "groq-renamed"');
    assert.equal((await call(proxy, 'PUT', '/config.yaml', undefined, { raw: edited })).status, 200);
    assert.deepEqual(await modelIds(proxy), ['openrouter-claude', 'groq-renamed']);
    assert.equal(await chatContent(proxy, 'groq-renamed'), `Bearer ${GROQ_KEY}|`);
    const after = await readFile(proxy.configPath, 'utf8');
    assert.ok(after.includes(GROQ_KEY) && after.includes('# the main provider') && !after.includes('...'));
    assert.equal(proxy.gateway.store.current().config['remote-management']['secret-key'], parse(before)['remote-management']['secret-key']);
    noSecretsIn(proxy.logs.join('\n'));
  });
});
