/**
 * streaming.keepalive-seconds, streaming.bootstrap-retries, nonstream-keepalive-interval and
 * passthrough-headers end to end, against loopback upstreams that are slow or fail first.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { CLIENT_KEY, chatBody, post, provider, startProxy } from './helpers/proxy.js';
import { chunk, completion, error, json, mockUpstream, sleep, sse } from './helpers/upstream.js';

test('streaming.keepalive-seconds: comment frames during silence; SDK clients read the stream unharmed', async (t) => {
  const up = await mockUpstream(sse([chunk('a'), chunk('b'), chunk('', 'upstream-model', 'stop')], { gapMs: 1300 }));
  const proxy = await startProxy({ streaming: { 'keepalive-seconds': 0.25 }, 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(() => Promise.all([proxy.close(), up.close()]));
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m', { stream: true }));
  const text = await res.text();
  assert.ok((text.match(/^: keep-alive$/gm) ?? []).length >= 2, text);
  assert.match(text, /"content":"a"[\s\S]*"content":"b"[\s\S]*\[DONE\]/);

  const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL });
  let content = '';
  for await (const c of await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true })) content += c.choices[0]?.delta?.content ?? '';
  assert.equal(content, 'ab');
});

test('streaming.bootstrap-retries: a stream failing before its first byte is run again', async (t) => {
  let calls = 0;
  const flaky = sse([chunk('fine'), chunk('', 'upstream-model', 'stop')]);
  const up = await mockUpstream((req, res, rec) => (++calls % 2 === 1 ? error(500, 'boom')(req, res, rec) : flaky(req, res, rec)));
  const config = (retries: number) => ({
    'request-retry': 0,
    'transient-error-cooldown-seconds': 0,
    streaming: { 'bootstrap-retries': retries },
    'openai-compatibility': [provider('p', up.url, ['m'])],
  });
  const without = await startProxy(config(0));
  const withRetry = await startProxy(config(1));
  t.after(() => Promise.all([without.close(), withRetry.close(), up.close()]));
  let res = await post(`${without.baseURL}/chat/completions`, chatBody('m', { stream: true }));
  assert.equal(res.status, 500);
  await res.text();
  calls = 0;
  res = await post(`${withRetry.baseURL}/chat/completions`, chatBody('m', { stream: true }));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-cliproxy-attempts'), '2');
  assert.match(await res.text(), /"content":"fine"/);
  calls = 0;
  res = await post(`${withRetry.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.status, 500, 'non-stream requests are not bootstrap-retried');
  await res.text();
});

test('nonstream-keepalive-interval: newlines ahead of a slow JSON body; a late error becomes the body', async (t) => {
  let fail = false;
  const up = await mockUpstream(async (req, res, rec) => {
    await sleep(700);
    return fail ? error(502, 'late failure')(req, res, rec) : json(completion('slow'))(req, res, rec);
  });
  const proxy = await startProxy({ 'nonstream-keepalive-interval': 0.2, 'request-retry': 0, 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(() => Promise.all([proxy.close(), up.close()]));
  let res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.status, 200);
  let text = await res.text();
  assert.match(text, /^\n\n+\{/);
  assert.equal(JSON.parse(text).choices[0].message.content, 'slow');

  const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL });
  const answer = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(answer.choices[0]!.message.content, 'slow');

  const anthropic = new Anthropic({ apiKey: CLIENT_KEY, baseURL: proxy.url });
  const message = await anthropic.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  assert.deepEqual(message.content, [{ type: 'text', text: 'slow' }], 'the Messages API too');

  fail = true;
  res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  text = await res.text();
  assert.equal(res.status, 200, 'the status went out with the first newline');
  assert.match(JSON.parse(text).error.message, /late failure/);
});

test('passthrough-headers: unset forwards filtered upstream headers; false keeps only ours', async (t) => {
  const headers = { 'x-ratelimit-remaining-requests': '7', 'x-litellm-key-spend': '1', 'x-hop': 'h', connection: 'x-hop', 'openai-processing-ms': '12' };
  const up = await mockUpstream(json(completion('c'), 200, headers));
  const on = await startProxy({ 'openai-compatibility': [provider('p', up.url, ['m'])] });
  const off = await startProxy({ 'passthrough-headers': false, 'openai-compatibility': [provider('p', up.url, ['m'])] });
  const explicit = await startProxy({ 'passthrough-headers': true, 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(() => Promise.all([on.close(), off.close(), explicit.close(), up.close()]));
  const messages = (proxy: { url: string }) =>
    post(`${proxy.url}/v1/messages`, { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }, { 'anthropic-version': '2023-06-01' });
  let translated = await messages(on);
  assert.equal(translated.headers.get('x-ratelimit-remaining-requests'), null, 'translated answers: only with an explicit true');
  translated = await messages(explicit);
  assert.equal(translated.headers.get('x-ratelimit-remaining-requests'), '7');
  assert.equal(translated.headers.get('x-litellm-key-spend'), null);
  assert.equal(((await translated.json()) as { type: string }).type, 'message');
  let res = await post(`${on.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.headers.get('x-ratelimit-remaining-requests'), '7');
  assert.equal(res.headers.get('openai-processing-ms'), '12');
  assert.equal(res.headers.get('x-litellm-key-spend'), null, 'gateway markers are stripped');
  assert.equal(res.headers.get('x-hop'), null, 'Connection-listed headers are hop-by-hop');
  res = await post(`${off.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-ratelimit-remaining-requests'), null);
  assert.equal(res.headers.get('openai-processing-ms'), null);
  assert.equal(res.headers.get('x-cliproxy-provider'), 'p');
  assert.match(res.headers.get('content-type') ?? '', /json/);
});
