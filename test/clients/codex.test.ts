/**
 * Codex CLI 0.171.0 (pinned in scripts/clients.json) against the built cliproxy and a scripted
 * OpenAI-compatible upstream. Codex speaks the OpenAI Responses API (POST /v1/responses, streamed);
 * cliproxy translates it to chat completions and back, tool calls included.
 */
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { CLIENT_KEY, describeRun, lastToolResult, MODEL, runCodex, startBuiltServer, startScriptedUpstream, toolNames, UPSTREAM_MODEL, type BuiltServer, type Reply, type Script, type ScriptedUpstream } from './harness.js';

/** Upstream + server for one case; `aliases` are more client-visible names for the upstream model. */
async function setup(t: TestContext, script: Script, aliases: string[] = []): Promise<{ upstream: ScriptedUpstream; server: BuiltServer }> {
  const upstream = await startScriptedUpstream(script);
  const models = [MODEL, ...aliases].map((alias) => ({ name: UPSTREAM_MODEL, alias }));
  const provider = { name: 'scripted', 'base-url': upstream.url, 'api-key-entries': [{ 'api-key': 'sk-scripted-upstream-key' }], models };
  const server = await startBuiltServer(upstream, { 'openai-compatibility': [provider] });
  t.after(() => Promise.all([server.close(), upstream.close()]));
  return { upstream, server };
}

/** Codex's shell tool: `exec_command` ({"cmd"}) in current versions, `shell` ({"command": [...]}) before. */
function shellCall(req: any, command: string): Reply | undefined {
  const names = toolNames(req);
  if (names.includes('exec_command')) return { toolCalls: [{ name: 'exec_command', arguments: { cmd: command } }] };
  if (names.includes('shell')) return { toolCalls: [{ name: 'shell', arguments: { command: ['bash', '-lc', command] } }] };
  return undefined;
}

describe('Codex CLI through cliproxy', () => {
  test('a text answer', async (t) => {
    const env = await setup(t, () => ({ text: 'Hello from the scripted upstream, 9K.' }));
    const run = await runCodex(env.server, 'Say hello', { timeoutMs: 120_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /Hello from the scripted upstream, 9K\./, describeRun(run));
    const [chat] = env.upstream.chats();
    assert.ok(chat, 'the upstream was asked');
    assert.equal(chat.json.model, UPSTREAM_MODEL);
    assert.equal(chat.json.messages[0].role, 'system', 'developer instructions became the system message');
    assert.match(chat.json.messages.at(-1).content, /<environment_context>.*\n\nSay hello$/s, 'Codex\'s user turns, combined in order');
    assert.ok(!JSON.stringify(chat.json.tools).includes('web_search'), 'hosted tools are not sent to a chat upstream');
  });

  test('the shell tool loop: tool call, Codex runs it, the answer quotes its output', async (t) => {
    const env = await setup(t, (req): Reply => {
      const result = lastToolResult(req);
      if (result !== undefined) return { text: `The command printed: ${/codex-marker-\d+/.exec(result)?.[0] ?? result}` };
      return shellCall(req, 'echo codex-marker-$((6*7))') ?? { text: 'no shell tool offered' };
    });
    const run = await runCodex(env.server, 'Run the marker command', { timeoutMs: 150_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /The command printed: codex-marker-42/, describeRun(run));
    const second = env.upstream.chats()[1]!.json;
    const call = second.messages.find((m: any) => m.tool_calls)?.tool_calls[0];
    assert.equal(call?.function.name, 'exec_command');
    assert.equal(second.messages.at(-1).role, 'tool');
    assert.equal(second.messages.at(-1).tool_call_id, call.id);
  });

  test('a namespaced tool (multi_agent_v1): the call reaches the tool inside its namespace', async (t) => {
    // Codex groups its sub-agent tools in a `namespace` tool; the upstream sees them qualified.
    const env = await setup(t, (req): Reply => {
      const result = lastToolResult(req);
      if (result !== undefined) return { text: `The agent tool said: ${result}` };
      if (!toolNames(req).includes('multi_agent_v1__wait_agent')) return { text: `no namespaced tool in ${toolNames(req).join(',')}` };
      return { toolCalls: [{ name: 'multi_agent_v1__wait_agent', arguments: { targets: ['not-an-agent-id'], timeout_ms: 10 } }] };
    });
    const run = await runCodex(env.server, 'Wait for the agent', { timeoutMs: 150_000 });
    assert.equal(run.code, 0, describeRun(run));
    // The tool itself rejected the id: Codex found wait_agent (an unknown tool gets "unsupported call").
    const second = env.upstream.chats()[1]!.json;
    assert.match(second.messages.at(-1).content, /agent id/i, describeRun(run));
    assert.doesNotMatch(second.messages.at(-1).content, /unsupported/i);
  });

  test('apply_patch (a freeform tool): the call comes back as a custom_tool_call and Codex writes the file', async (t) => {
    // gpt-5.5 is a model Codex knows: it offers apply_patch as a freeform (custom) tool for it.
    const patch = '*** Begin Patch\n*** Add File: greeting.txt\n+written through cliproxy\n*** End Patch\n';
    const env = await setup(
      t,
      (req): Reply => {
        if (lastToolResult(req) !== undefined) return { text: 'Patched greeting.txt.' };
        return toolNames(req).includes('apply_patch') ? { toolCalls: [{ name: 'apply_patch', arguments: { input: patch } }] } : { text: 'no apply_patch offered' };
      },
      ['gpt-5.5'],
    );
    const cwd = await mkdtemp(join(tmpdir(), 'cliproxy-codex-patch-'));
    t.after(() => rm(cwd, { recursive: true, force: true }));
    const run = await runCodex(env.server, 'Create greeting.txt', { timeoutMs: 150_000, cwd, args: ['-m', 'gpt-5.5'] });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /Patched greeting\.txt\./, describeRun(run));
    assert.equal(await readFile(join(cwd, 'greeting.txt'), 'utf8'), 'written through cliproxy\n');
    const offered = env.upstream.chats()[0]!.json.tools.find((tool: any) => tool.function.name === 'apply_patch');
    assert.deepEqual(offered.function.parameters.required, ['input']);
  });

  // `openai_base_url` points Codex's built-in OpenAI provider at cliproxy (the key in auth.json).
  // That provider tries a Responses WebSocket first (cliproxy's 426 sends it to HTTP at once) and
  // compacts remotely: a compaction_trigger item, answered with one compaction item holding the
  // upstream model's summary, which Codex sends back instead of the history.
  test('built-in OpenAI provider: WebSocket refused at once, remote compaction through a chat upstream', async (t) => {
    let calls = 0;
    const env = await setup(t, (req): Reply => {
      const last = req.messages.at(-1);
      if (typeof last?.content === 'string' && last.content.includes('handoff note')) return { text: 'SUMMARY-7Z: the user asked for a command; it printed compact-2.' };
      if (calls++ === 0) return shellCall(req, 'echo compact-$((1+1))') ?? { text: 'no shell tool offered' };
      return { text: `Finished; summary seen: ${JSON.stringify(req.messages).includes('SUMMARY-7Z')}` };
    });
    const toml = [`model = "${MODEL}"`, `openai_base_url = "${env.server.url}/v1"`, 'model_auto_compact_token_limit = 50', ''].join('\n');
    const run = await runCodex(env.server, 'Run the command', {
      timeoutMs: 150_000,
      homeFiles: { '.codex/config.toml': toml, '.codex/auth.json': JSON.stringify({ OPENAI_API_KEY: CLIENT_KEY }) },
    });
    assert.equal(run.code, 0, describeRun(run));
    assert.doesNotMatch(run.stderr, /Reconnecting\.\.\. 2\/5/, 'one WebSocket attempt, then HTTP');
    assert.doesNotMatch(run.stderr, /remote compact/i, describeRun(run));
    assert.match(run.stdout, /Finished; summary seen: true/, describeRun(run));
    const summaryRequest = env.upstream.chats().map((r) => r.json).find((c) => String(c.messages.at(-1)?.content).includes('handoff note'));
    assert.ok(summaryRequest, 'the compaction reached the upstream as a summary request');
    assert.equal(summaryRequest.tool_choice, 'none');
  });
});
