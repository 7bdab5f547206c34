/**
 * force-model-prefix, display-name / max-context-length in the model lists, and input-modalities
 * (media parts reach a text-only model as a text note), end to end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLIENT_KEY, chatBody, post, provider, startProxy } from './helpers/proxy.js';
import { completion, json, mockUpstream, named, type Recorded } from './helpers/upstream.js';

const list = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}`, ...headers } });
  return ((await res.json()) as { data: any[] }).data;
};

test('force-model-prefix: unset or true keeps prefixed models behind prefix/alias; false also serves the plain alias', async (t) => {
  const or = await mockUpstream(named('or'));
  const plain = await mockUpstream(named('plain'));
  const providers = [provider('or', or.url, [{ name: 'kimi-k2:free', alias: 'kimi' }], { prefix: 'or' }), provider('local', plain.url, ['llama'])];
  const strict = await startProxy({ 'openai-compatibility': providers });
  const loose = await startProxy({ 'force-model-prefix': false, 'openai-compatibility': providers });
  t.after(() => Promise.all([strict.close(), loose.close(), or.close(), plain.close()]));
  assert.deepEqual((await list(strict.url)).map((m) => m.id), ['or/kimi', 'llama']);
  assert.equal((await post(`${strict.baseURL}/chat/completions`, chatBody('kimi'))).status, 404);
  assert.deepEqual((await list(loose.url)).map((m) => m.id), ['or/kimi', 'kimi', 'llama']);
  const res = await post(`${loose.baseURL}/chat/completions`, chatBody('kimi'));
  assert.equal(res.status, 200);
  assert.equal(or.requests.at(-1)!.json.model, 'kimi-k2:free');
  assert.equal((await post(`${loose.baseURL}/chat/completions`, chatBody('or/kimi'))).status, 200);
});

test('display-name and max-context-length show in /v1/models (OpenAI and Anthropic formats)', async (t) => {
  const up = await mockUpstream(named('x'));
  const proxy = await startProxy({
    'openai-compatibility': [provider('p', up.url, [{ name: 'k2', alias: 'kimi', 'display-name': 'Kimi K2', 'max-context-length': 262144 }, 'bare'])],
  });
  t.after(() => Promise.all([proxy.close(), up.close()]));
  const [kimi, bare] = await list(proxy.url);
  assert.equal(kimi.display_name, 'Kimi K2');
  assert.equal(kimi.context_length, 262144);
  assert.equal(kimi.max_context_length, 262144);
  assert.equal(bare.display_name, undefined);
  const anthropic = await list(proxy.url, { 'anthropic-version': '2023-06-01' });
  assert.equal(anthropic[0].display_name, 'Kimi K2');
  assert.equal(anthropic[1].display_name, 'bare');
});

test('input-modalities [text]: image parts become a text note; models accepting images get them as sent', async (t) => {
  const up = await mockUpstream(json((r: Recorded) => completion('ok', r.json?.model)));
  const proxy = await startProxy({
    'openai-compatibility': [provider('p', up.url, [{ name: 'text-only', 'input-modalities': ['text'] }, { name: 'vision', 'input-modalities': ['text', 'image'] }])],
  });
  t.after(() => Promise.all([proxy.close(), up.close()]));
  const content = [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }];
  const body = (model: string) => ({ model, messages: [{ role: 'user', content }] });
  await post(`${proxy.baseURL}/chat/completions`, body('text-only'));
  assert.deepEqual(up.requests.at(-1)!.json.messages[0].content, [{ type: 'text', text: 'What is this?' }, { type: 'text', text: '[image omitted: this model accepts text only]' }]);
  const raw = JSON.stringify(body('vision'));
  await post(`${proxy.baseURL}/chat/completions`, raw);
  assert.equal(up.requests.at(-1)!.body, raw);
  const res = await post(`${proxy.url}/v1/messages`, {
    model: 'text-only', max_tokens: 20,
    messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }, { type: 'text', text: 'hi' }] }],
  }, { 'anthropic-version': '2023-06-01' });
  assert.equal(res.status, 200);
  assert.doesNotMatch(up.requests.at(-1)!.body, /image_url/, 'the Messages API path too');
});
