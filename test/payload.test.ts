/**
 * Payload rules and thinking settings end to end: the real gateway, a loopback upstream that
 * records the body it received, requests through the OpenAI and Anthropic client APIs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chatBody, post, provider, startProxy } from './helpers/proxy.js';
import { completion, json, mockUpstream, type Recorded } from './helpers/upstream.js';
import { vendorUpstream } from './helpers/vendors.js';

const echo = () => mockUpstream(json((r: Recorded) => completion('ok', r.json?.model)));

test('payload: default only when absent, override always, filter last; other models untouched byte for byte', async (t) => {
  const up = await echo();
  const proxy = await startProxy({
    'openai-compatibility': [provider('p', up.url, [{ name: 'glm-4.6', alias: 'glm' }, 'other'])],
    payload: {
      default: [
        { models: [{ name: 'glm-*' }], params: { max_tokens: 8192, 'metadata.tier': 'a' } },
        { models: [{ name: 'glm' }], params: { max_tokens: 1, 'metadata.tier': 'b', temperature: 0.2 } },
      ],
      override: [{ models: [{ name: 'glm-4.6' }], params: { reasoning_effort: 'high' } }],
      'override-raw': [{ models: [{ name: 'glm' }], params: { response_format: '{"type":"json_object"}' } }],
      filter: [{ models: [{ name: 'glm*' }], params: ['stream_options', 'tools.#(type=="web_search")#'] }],
    },
  });
  t.after(() => Promise.all([proxy.close(), up.close()]));

  let res = await post(`${proxy.baseURL}/chat/completions`, chatBody('glm', { reasoning_effort: 'low', tools: [{ type: 'web_search' }, { type: 'function', function: { name: 'f' } }] }));
  assert.equal(res.status, 200);
  let body = up.requests.at(-1)!.json;
  assert.equal(body.model, 'glm-4.6');
  assert.equal(body.max_tokens, 8192, 'the first matching default wins');
  assert.deepEqual(body.metadata, { tier: 'a' });
  assert.equal(body.temperature, 0.2);
  assert.equal(body.reasoning_effort, 'high', 'override beats the client');
  assert.deepEqual(body.response_format, { type: 'json_object' });
  assert.deepEqual(body.tools, [{ type: 'function', function: { name: 'f' } }]);

  res = await post(`${proxy.baseURL}/chat/completions`, chatBody('glm', { max_tokens: 100 }));
  assert.equal(up.requests.at(-1)!.json.max_tokens, 100, 'a default never replaces what the client sent');

  const raw = '{"model":"other","messages":[{"role":"user","content":"Hi"}],   "max_tokens":5}';
  res = await post(`${proxy.baseURL}/chat/completions`, raw);
  assert.equal(res.status, 200);
  assert.equal(up.requests.at(-1)!.body, raw, 'no rule matched: the body is passed through as sent');
});

test('payload conditions: headers, match, not-match, exist, not-exist, protocol, from-protocol', async (t) => {
  const up = await echo();
  const proxy = await startProxy({
    'openai-compatibility': [provider('p', up.url, ['m'])],
    payload: {
      override: [
        { models: [{ name: 'm', headers: { 'X-Tier': 'team-*' } }], params: { 'x.header': true } },
        { models: [{ name: 'm', match: [{ 'metadata.client': 'codex' }] }], params: { 'x.match': true } },
        { models: [{ name: 'm', 'not-match': [{ 'metadata.mode': 'dev' }] }], params: { 'x.notmatch': true } },
        { models: [{ name: 'm', exist: ['tools.#(type=="web_search").type'] }], params: { 'x.exist': true } },
        { models: [{ name: 'm', 'not-exist': ['metadata.skip'] }], params: { 'x.notexist': true } },
        { models: [{ name: 'm', protocol: 'gemini' }], params: { 'x.gemini': true } },
        { models: [{ name: 'm', protocol: 'openai', 'from-protocol': 'claude' }], params: { 'x.fromclaude': true } },
        { models: [{ name: 'm', 'from-protocol': 'openai-response' }], params: { 'x.fromresponses': true } },
        { models: [{ name: 'm', 'from-protocol': 'gemini' }], params: { 'x.fromgemini': true } },
      ],
    },
  });
  t.after(() => Promise.all([proxy.close(), up.close()]));

  await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { metadata: { client: 'codex', mode: 'dev', skip: null }, tools: [{ type: 'web_search' }] }), { 'x-tier': 'team-7' });
  assert.deepEqual(up.requests.at(-1)!.json.x, { header: true, match: true, exist: true, notexist: true });

  await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { metadata: { skip: 1 } }), { 'x-tier': 'other' });
  assert.deepEqual(up.requests.at(-1)!.json.x, { notmatch: true });

  const res = await post(`${proxy.url}/v1/messages`, { model: 'm', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] }, { 'anthropic-version': '2023-06-01' });
  assert.equal(res.status, 200);
  assert.equal(up.requests.at(-1)!.json.x.fromclaude, true, 'a Messages request is from-protocol claude');
  const responses = await post(`${proxy.baseURL}/responses`, { model: 'm', input: 'Hi' });
  assert.equal(responses.status, 200);
  assert.equal(up.requests.at(-1)!.json.x.fromresponses, true, 'a Responses request is from-protocol responses (openai-response accepted)');
  assert.equal(up.requests.at(-1)!.json.x.fromclaude, undefined);
  const gemini = await post(`${proxy.url}/v1beta/models/m:generateContent`, { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] });
  assert.equal(gemini.status, 200);
  assert.equal(up.requests.at(-1)!.json.x.fromgemini, true, 'a Gemini request is from-protocol gemini');
});

test('thinking: suffix levels and budgets map to reasoning_effort, clamped to the model levels', async (t) => {
  const up = await echo();
  const proxy = await startProxy({
    'openai-compatibility': [
      provider('p', up.url, [
        { name: 'gpt-5', alias: 'g5', thinking: { levels: ['minimal', 'low', 'medium', 'high'] } },
        { name: 'plain', alias: 'plain' },
        { name: 'noreason', thinking: { levels: [] } },
      ]),
    ],
  });
  t.after(() => Promise.all([proxy.close(), up.close()]));
  const effort = async (model: string, extra: Record<string, unknown> = {}) => {
    const res = await post(`${proxy.baseURL}/chat/completions`, chatBody(model, extra));
    assert.equal(res.status, 200, `${model}: ${res.status}`);
    const body = up.requests.at(-1)!.json;
    return [body.model, body.reasoning_effort];
  };
  assert.deepEqual(await effort('g5(high)'), ['gpt-5', 'high']);
  assert.deepEqual(await effort('g5(xhigh)'), ['gpt-5', 'high'], 'clamped to the highest listed');
  assert.deepEqual(await effort('g5(300)'), ['gpt-5', 'minimal']);
  assert.deepEqual(await effort('g5(8192)'), ['gpt-5', 'medium']);
  assert.deepEqual(await effort('g5(100000)'), ['gpt-5', 'high']);
  assert.deepEqual(await effort('g5(none)'), ['gpt-5', 'minimal'], 'no "none" level: the lowest one');
  assert.deepEqual(await effort('G5(auto)'), ['gpt-5', 'medium']);
  assert.deepEqual(await effort('g5', { reasoning_effort: 'xhigh' }), ['gpt-5', 'high'], "the client's own level is clamped too");
  assert.deepEqual(await effort('plain(minimal)'), ['plain', 'low'], 'default levels low, medium, high');
  assert.deepEqual(await effort('plain', { reasoning_effort: 'xhigh' }), ['plain', 'xhigh'], 'no thinking config: passed through');
  assert.deepEqual(await effort('noreason', { reasoning_effort: 'high' }), ['noreason', undefined], 'levels: [] removes it');
  const missing = await post(`${proxy.baseURL}/chat/completions`, chatBody('nope(high)'));
  assert.equal(missing.status, 404);
});

test('payload rules see the alias with its thinking suffix, and run after thinking', async (t) => {
  const up = await echo();
  const proxy = await startProxy({
    'openai-compatibility': [provider('p', up.url, [{ name: 'up-model', alias: 'fast' }])],
    payload: {
      default: [{ models: [{ name: 'fast' }], params: { reasoning_effort: 'low', max_tokens: 10 } }],
      override: [{ models: [{ name: 'fast(high)' }], params: { 'extra.suffixed': true } }],
    },
  });
  t.after(() => Promise.all([proxy.close(), up.close()]));
  await post(`${proxy.baseURL}/chat/completions`, chatBody('fast(high)'));
  const body = up.requests.at(-1)!.json;
  assert.equal(body.reasoning_effort, 'high', 'the suffix counts as the client having chosen');
  assert.equal(body.max_tokens, 10);
  assert.deepEqual(body.extra, { suffixed: true });
});

test('payload rules on a native upstream act on the body it receives, in its own format (protocol claude, gemini)', async (t) => {
  const claude = await vendorUpstream('anthropic');
  const gemini = await vendorUpstream('gemini');
  const proxy = await startProxy({
    'claude-api-key': [{ 'api-key': 'sk-ant-upstream-1', 'base-url': claude.baseUrl, models: [{ name: 'claude-sonnet-4-5', alias: 'sonnet' }] }],
    'gemini-api-key': [{ 'api-key': 'AIza-upstream-1', 'base-url': gemini.baseUrl, models: [{ name: 'gemini-2.5-flash', alias: 'flash' }] }],
    payload: {
      default: [
        { models: [{ name: 'claude-*', protocol: 'claude' }], params: { 'metadata.user_id': 'team-a', max_tokens: 1 } },
        { models: [{ name: 'gemini-*', protocol: 'gemini' }], params: { 'generationConfig.maxOutputTokens': 77 } },
      ],
      override: [
        { models: [{ name: 'claude-*', protocol: 'claude' }], params: { thinking: { type: 'enabled', budget_tokens: 2048 } } },
        { models: [{ name: '*', protocol: 'openai' }], params: { 'x.openai': true } },
        { models: [{ name: 'gemini-*', protocol: 'gemini' }], params: { 'generationConfig.thinkingConfig.thinkingBudget': 0 } },
      ],
      filter: [{ models: [{ name: 'claude-*', protocol: 'claude' }], params: ['temperature'] }],
    },
  });
  t.after(() => Promise.all([proxy.close(), claude.close(), gemini.close()]));

  assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('sonnet', { temperature: 0.3 }))).status, 200);
  const sent = claude.requests.at(-1)!.json;
  assert.deepEqual(sent.thinking, { type: 'enabled', budget_tokens: 2048 }, 'an Anthropic field, set in the Messages body');
  assert.deepEqual(sent.metadata, { user_id: 'team-a' });
  assert.equal(sent.max_tokens, 8192, 'a default does not replace what the translated body already holds');
  assert.equal(sent.temperature, undefined, 'filtered');
  assert.equal(sent.x, undefined, 'a protocol openai rule does not touch a claude upstream');

  assert.equal((await post(`${proxy.baseURL}/chat/completions`, chatBody('flash'))).status, 200);
  const g = gemini.requests.at(-1)!.json;
  assert.equal(g.generationConfig.maxOutputTokens, 77);
  assert.equal(g.generationConfig.thinkingConfig.thinkingBudget, 0);
  assert.ok(Array.isArray(g.contents), 'still a generateContent body');
  assert.equal(g.messages, undefined);
});
