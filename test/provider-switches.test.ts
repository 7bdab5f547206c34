/**
 * Per-provider switches end to end: request-scoped-errors, request-retry per provider and key,
 * `$` headers copying client headers, support-prompt-cache-key, disabled.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chatBody, post, provider, startProxy } from './helpers/proxy.js';
import { completion, error, json, mockUpstream, named, type Recorded } from './helpers/upstream.js';

test('request-scoped-errors: stop answers at once, continue moves on, cooldown variants cool the key', async (t) => {
  const ctx = await mockUpstream(error(400, 'This model maximum_context_length is 8192', 'invalid_request_error'));
  const busy = await mockUpstream(error(503, 'server_is_overloaded now'));
  const odd = await mockUpstream(error(400, 'quota: please upgrade'));
  const good = await mockUpstream(named('good'));
  const rules = [
    { status: 400, match: ['maximum_context_length'], action: 'stop' },
    { status: 503, 'match-regexr': ['^\\{.*overloaded'], action: 'stop-and-cooldown' },
    { status: 400, match: ['please upgrade'], action: 'continue-and-cooldown' },
  ];
  const proxy = await startProxy({
    'request-retry': 0,
    'openai-compatibility': [
      provider('ctx', ctx.url, [{ name: 'a', alias: 'stop-pool' }], { 'request-scoped-errors': rules, priority: 10 }),
      provider('busy', busy.url, [{ name: 'b', alias: 'busy-pool' }], { 'request-scoped-errors': rules, priority: 10 }),
      provider('odd', odd.url, [{ name: 'c', alias: 'odd-pool' }], { 'request-scoped-errors': rules, priority: 10 }),
      provider('good', good.url, [{ name: 'g', alias: 'stop-pool' }, { name: 'g', alias: 'busy-pool' }, { name: 'g', alias: 'odd-pool' }]),
    ],
  });
  t.after(() => Promise.all([proxy.close(), ctx.close(), busy.close(), odd.close(), good.close()]));

  let res = await post(`${proxy.baseURL}/chat/completions`, chatBody('stop-pool'));
  assert.equal(res.status, 400, 'stop: the upstream error as sent');
  assert.match(await res.text(), /maximum_context_length/);
  res = await post(`${proxy.baseURL}/chat/completions`, chatBody('stop-pool'));
  assert.equal(res.status, 400, 'stop does not cool: the same member is tried first again');
  assert.equal(ctx.requests.length, 2);

  res = await post(`${proxy.baseURL}/chat/completions`, chatBody('busy-pool'));
  assert.equal(res.status, 503, 'stop-and-cooldown: no failover to the good member');
  res = await post(`${proxy.baseURL}/chat/completions`, chatBody('busy-pool'));
  assert.equal(res.status, 200, 'the busy key is cooling now');
  assert.equal(busy.requests.length, 1);

  res = await post(`${proxy.baseURL}/chat/completions`, chatBody('odd-pool'));
  assert.equal(res.status, 200, 'continue-and-cooldown: a 400 fails over');
  assert.equal(res.headers.get('x-cliproxy-attempts'), '2');
  await post(`${proxy.baseURL}/chat/completions`, chatBody('odd-pool'));
  assert.equal(odd.requests.length, 1, 'and cooled the key');
});

test('request-retry per provider and per key: round r admits only credentials whose request-retry ≥ r', async (t) => {
  const up = await mockUpstream(error(503, 'down'));
  const proxy = await startProxy({
    'request-retry': 5,
    'max-retry-interval': 0,
    'transient-error-cooldown-seconds': 0,
    'openai-compatibility': [
      provider('once', up.url, ['m0'], { 'request-retry': 0 }),
      provider('twice', up.url, ['m2'], {
        'request-retry': 2,
        'api-key-entries': [{ 'api-key': 'sk-a' }, { 'api-key': 'sk-b', 'request-retry': 0 }],
      }),
      provider('inherit', up.url, ['mi'], { 'request-retry': -1 }),
    ],
  });
  t.after(() => Promise.all([proxy.close(), up.close()]));
  const attempts = async (model: string) => {
    const before = up.requests.length;
    const res = await post(`${proxy.baseURL}/chat/completions`, chatBody(model));
    assert.equal(res.status, 503);
    return up.requests.length - before;
  };
  assert.equal(await attempts('m0'), 1, 'request-retry 0: no extra round');
  assert.equal(await attempts('m2'), 4, 'key a: 1 + 2 rounds; key b: only the first');
  assert.equal(await attempts('mi'), 6, 'negative inherits the global 5');
});

test('headers: "$Name" copies the client header (omitted when absent); disabled providers serve nothing', async (t) => {
  const up = await mockUpstream(json((r: Recorded) => completion('ok', r.json?.model)));
  const proxy = await startProxy({
    'openai-compatibility': [
      provider('p', up.url, ['m'], { headers: { 'X-Session': '$X-Claude-Code-Session-Id', 'X-Fixed': 'v' } }),
      provider('off', up.url, ['hidden'], { disabled: true }),
    ],
  });
  t.after(() => Promise.all([proxy.close(), up.close()]));
  await post(`${proxy.baseURL}/chat/completions`, chatBody('m'), { 'x-claude-code-session-id': 'sess-42' });
  assert.equal(up.requests.at(-1)!.headers['x-session'], 'sess-42');
  assert.equal(up.requests.at(-1)!.headers['x-fixed'], 'v');
  await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { stream: false }));
  assert.equal(up.requests.at(-1)!.headers['x-session'], undefined, 'no client header: none upstream (not "$X-...")');
  assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('hidden'))).status, 404);
});

test('support-prompt-cache-key: the client key kept, else one derived per session and stable', async (t) => {
  const up = await mockUpstream(json((r: Recorded) => completion('ok', r.json?.model)));
  const proxy = await startProxy({
    'openai-compatibility': [provider('p', up.url, ['m'], { 'support-prompt-cache-key': true }), provider('q', up.url, ['n'])],
  });
  t.after(() => Promise.all([proxy.close(), up.close()]));
  await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { prompt_cache_key: 'mine' }));
  assert.equal(up.requests.at(-1)!.json.prompt_cache_key, 'mine');
  await post(`${proxy.baseURL}/chat/completions`, chatBody('m'), { 'x-session-id': 's1' });
  const first = up.requests.at(-1)!.json.prompt_cache_key;
  assert.match(first, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  await post(`${proxy.baseURL}/chat/completions`, chatBody('m'), { 'x-session-id': 's1' });
  assert.equal(up.requests.at(-1)!.json.prompt_cache_key, first, 'same session, same key');
  await post(`${proxy.baseURL}/chat/completions`, chatBody('m'), { 'x-session-id': 's2' });
  assert.notEqual(up.requests.at(-1)!.json.prompt_cache_key, first);
  await post(`${proxy.baseURL}/chat/completions`, chatBody('n'), { 'x-session-id': 's1' });
  assert.equal(up.requests.at(-1)!.json.prompt_cache_key, undefined, 'off by default');
  const embedding = JSON.stringify({ model: 'm', input: 'hello' });
  await post(`${proxy.baseURL}/embeddings`, embedding, { 'x-session-id': 's1' });
  assert.equal(up.requests.at(-1)!.body, embedding, 'embeddings are no conversation: left alone');
});
