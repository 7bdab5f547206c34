/**
 * Claude Code's recorded requests (test/fixtures/clients/claude-*.json) replayed against the real
 * gateway with the headers Claude Code sends (`anthropic-beta`, `x-stainless-*`, `?beta=true`),
 * and a loopback upstream that checks what a strict OpenAI-compatible server would check. The
 * real CLI runs in test/clients/ (`npm run test:clients`); this is the fast check in `npm test`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY, provider, startProxy, type TestProxy } from './helpers/proxy.js';
import { json, mockUpstream, sse, type MockUpstream, type Recorded } from './helpers/upstream.js';

/** Recorded request → the reasoning_effort it must reach the upstream with. */
const FIXTURES: Record<string, string> = { 'claude-text': 'high', 'claude-bash-result': 'high', 'claude-parallel-image': 'high', 'claude-thinking-budget': 'medium' };
const load = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/clients/${name}.json`, import.meta.url), 'utf8'));

/** What strict chat servers reject: a system message after the first, a tool message out of place. */
function strictProblems(body: any): string[] {
  const problems: string[] = [];
  body.messages.forEach((m: any, i: number) => {
    if (!['system', 'user', 'assistant', 'tool'].includes(m.role)) problems.push(`messages.${i}.role ${m.role}`);
    if (m.role === 'system' && i > 0) problems.push(`messages.${i}: system after the first message`);
    if (m.role === 'tool' && !['assistant', 'tool'].includes(body.messages[i - 1]?.role)) problems.push(`messages.${i}: tool message out of place`);
  });
  for (const key of ['thinking', 'context_management', 'output_config', 'metadata', 'system', 'top_k']) if (key in body) problems.push(`unknown parameter ${key}`);
  return problems;
}

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [{ index: 0, delta, finish_reason: finish }] });

describe('Claude Code request shapes through the gateway', () => {
  let upstream: MockUpstream;
  let proxy: TestProxy;
  before(async () => {
    upstream = await mockUpstream((req, res, r: Recorded) => {
      const problems = strictProblems(r.json);
      if (problems.length > 0) return json({ error: { message: problems.join('; '), type: 'invalid_request_error' } }, 400)(req, res, r);
      return sse([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hello from upstream' }), chunk({}, 'stop')])(req, res, r);
    });
    // Claude Code's own model ids work as aliases too (claude-thinking-budget asks for one).
    const models = [{ name: 'up', alias: 'test-model' }, { name: 'up', alias: 'claude-sonnet-4-5-20250929' }];
    proxy = await startProxy({ 'openai-compatibility': [provider('strict', upstream.url, models)] });
  });
  after(() => Promise.all([proxy.close(), upstream.close()]));

  test('HEAD / (Claude Code\'s first request) answers 200 with no body', async () => {
    const res = await fetch(`${proxy.url}/`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
  });

  for (const [name, effort] of Object.entries(FIXTURES)) {
    test(`${name}: streamed answer, the upstream sees a strict-valid chat request`, async () => {
      const { path, headers, body } = load(name);
      const res = await fetch(`${proxy.url}${path}`, { method: 'POST', headers: { ...headers, authorization: `Bearer ${CLIENT_KEY}` }, body: JSON.stringify(body) });
      const events = await res.text();
      assert.equal(res.status, 200, events);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.match(events, /"text_delta","text":"Hello from upstream"/);
      assert.match(events, /event: message_stop/);
      const seen = upstream.requests.at(-1)!.json;
      assert.deepEqual(strictProblems(seen), []);
      assert.equal(seen.model, 'up');
      assert.equal(seen.reasoning_effort, effort);
    });
  }

  test('an unknown top-level field is dropped, not a 400, and logged once at debug level', async (t) => {
    const debugProxy = await startProxy({ debug: true, 'openai-compatibility': [provider('strict', upstream.url, [{ name: 'up', alias: 'test-model' }])] });
    t.after(() => debugProxy.close());
    const { path, headers, body } = load('claude-text');
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${debugProxy.url}${path}`, { method: 'POST', headers: { ...headers, authorization: `Bearer ${CLIENT_KEY}` }, body: JSON.stringify({ ...body, a_field_from_2027: { x: 1 } }) });
      assert.equal(res.status, 200, await res.text());
      assert.ok(!upstream.requests.at(-1)!.body.includes('a_field_from_2027'));
    }
    const lines = debugProxy.logs.filter((l) => l.includes('unknown request fields dropped'));
    assert.ok(lines.length >= 1 && lines.some((l) => l.includes('a_field_from_2027')), debugProxy.logs.join('\n').slice(-2000));
    assert.equal(lines.filter((l) => l.includes('a_field_from_2027')).length, 1, 'once, not per request');
  });

  test('count_tokens takes the same bodies', async () => {
    const { body } = load('claude-parallel-image');
    const res = await fetch(`${proxy.url}/v1/messages/count_tokens?beta=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: body.model, messages: body.messages, system: body.system, tools: body.tools }),
    });
    const answer = (await res.json()) as any;
    assert.equal(res.status, 200, JSON.stringify(answer));
    assert.ok(answer.input_tokens > 1600, 'the image counts');
  });

  test('what routing needs is still checked: no model is an Anthropic-shaped 400', async () => {
    const { headers, body } = load('claude-text');
    delete body.model;
    const res = await fetch(`${proxy.url}/v1/messages?beta=true`, { method: 'POST', headers: { ...headers, authorization: `Bearer ${CLIENT_KEY}` }, body: JSON.stringify(body) });
    const answer = (await res.json()) as any;
    assert.equal(res.status, 400);
    assert.equal(answer.type, 'error');
    assert.equal(answer.error.type, 'invalid_request_error');
  });
});
