/**
 * The real CLIs against native upstreams: Claude Code → a claude-api-key upstream and Gemini CLI →
 * a gemini-api-key upstream (loopback servers speaking Anthropic's and Google's APIs,
 * test/helpers/vendors.ts). Same API on both sides, so cliproxy passes the CLI's requests through:
 * the upstream sees the CLI's own body and betas, and the CLI reads the vendor's own events.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { vendorUpstream, type CallChooser, type Family } from '../helpers/vendors.js';
import { describeRun, MODEL, runClaude, runCodex, runGemini, startBuiltServer, type BuiltServer } from './harness.js';

async function setup(t: TestContext, family: Family, chooser?: CallChooser): Promise<{ upstream: Awaited<ReturnType<typeof vendorUpstream>>; server: BuiltServer }> {
  const upstream = await vendorUpstream(family, chooser);
  const key = family === 'anthropic' ? 'claude-api-key' : family === 'gemini' ? 'gemini-api-key' : 'codex-api-key';
  const upstreamModel = family === 'anthropic' ? 'claude-sonnet-4-5' : family === 'gemini' ? 'gemini-2.5-flash' : 'gpt-5-codex';
  const server = await startBuiltServer(upstream, {
    'openai-compatibility': [],
    [key]: [{ 'api-key': `sk-native-${family}-upstream`, 'base-url': upstream.baseUrl, models: [{ name: upstreamModel, alias: MODEL }] }],
  });
  t.after(() => Promise.all([server.close(), upstream.close()]));
  return { upstream, server };
}

describe('Claude Code → claude-api-key', () => {
  test('a text answer, the request passed through with its betas', async (t) => {
    const { upstream, server } = await setup(t, 'anthropic');
    const run = await runClaude(server, 'Say hello', { timeoutMs: 90_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /Hello from anthropic/, describeRun(run));
    const main = upstream.requests.find((r) => r.path.startsWith('/v1/messages') && Array.isArray(r.json?.tools) && r.json.tools.some((tool: any) => tool.name === 'Bash'));
    assert.ok(main, 'the main-loop request reached the Anthropic upstream');
    assert.equal(main.json.model, 'claude-sonnet-4-5');
    assert.equal(main.headers['x-api-key'], 'sk-native-anthropic-upstream');
    assert.ok(String(main.headers['anthropic-beta'] ?? '').length > 0, 'Claude Code betas are forwarded');
    assert.ok(JSON.stringify(main.json).includes('cache_control'), 'cache_control kept');
  });

  test('the Bash tool loop', async (t) => {
    const { server } = await setup(t, 'anthropic', (names) => (names.includes('Bash') ? { name: 'Bash', args: { command: 'echo native-marker-$((6*7))', description: 'Print a marker' } } : undefined));
    const run = await runClaude(server, 'Run the marker command', { args: ['--allowedTools', 'Bash'], timeoutMs: 120_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /Tool said: native-marker-42/, describeRun(run));
  });
});

describe('Gemini CLI → gemini-api-key', () => {
  test('a text answer through streamGenerateContent', async (t) => {
    const { upstream, server } = await setup(t, 'gemini');
    const run = await runGemini(server, 'Say hello', { timeoutMs: 120_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /Hello from gemini/, describeRun(run));
    const main = upstream.requests.find((r) => r.path.includes(':streamGenerateContent'))!;
    assert.equal(main.path, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    assert.equal(main.headers['x-goog-api-key'], 'sk-native-gemini-upstream');
    assert.ok(main.json.systemInstruction, 'Gemini CLI’s own request went up');
  });

  test('the shell tool loop', async (t) => {
    const { server } = await setup(t, 'gemini', (names) => (names.includes('run_shell_command') ? { name: 'run_shell_command', args: { command: 'echo gemini-native-XLII | sed s/XLII/42/' } } : undefined));
    const run = await runGemini(server, 'Run the marker command', { args: ['--yolo'], timeoutMs: 150_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /gemini-native-42/, describeRun(run));
  });
});

describe('Codex CLI → codex-api-key', () => {
  test('a text answer, the Responses request passed through', async (t) => {
    const { upstream, server } = await setup(t, 'responses');
    const run = await runCodex(server, 'Say hello', { timeoutMs: 120_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /Hello from responses/, describeRun(run));
    const main = upstream.requests.find((r) => r.path.endsWith('/responses'))!;
    assert.equal(main.json.model, 'gpt-5-codex');
    assert.equal(main.headers.authorization, 'Bearer sk-native-responses-upstream');
    assert.ok(Array.isArray(main.json.include) && main.json.include.includes('reasoning.encrypted_content'), 'Codex’s own request (asks for encrypted reasoning)');
  });

  test('the shell tool loop', async (t) => {
    const { server } = await setup(t, 'responses', (names) => (names.includes('exec_command') ? { name: 'exec_command', args: { cmd: 'echo codex-native-$((6*7))' } } : undefined));
    const run = await runCodex(server, 'Run the marker command', { timeoutMs: 150_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /codex-native-42/, describeRun(run));
  });
});
