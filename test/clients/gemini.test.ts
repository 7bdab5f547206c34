/**
 * Gemini CLI 0.61.0 (pinned in scripts/clients.json) against the built cliproxy and a scripted
 * OpenAI-compatible upstream: it posts POST /v1beta/models/{model}:streamGenerateContent?alt=sse
 * with x-goog-api-key, and cliproxy translates both ways (translate/gemini/).
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { describeRun, lastToolResult, runGemini, startBuiltServer, startScriptedUpstream, toolNames, UPSTREAM_MODEL, type BuiltServer, type Reply, type Script, type ScriptedUpstream } from './harness.js';

async function setup(t: TestContext, script: Script): Promise<{ upstream: ScriptedUpstream; server: BuiltServer }> {
  const upstream = await startScriptedUpstream(script);
  const server = await startBuiltServer(upstream);
  t.after(() => Promise.all([server.close(), upstream.close()]));
  return { upstream, server };
}

describe('Gemini CLI through cliproxy', () => {
  test('a text answer', async (t) => {
    const { upstream, server } = await setup(t, () => ({ text: 'Hello from the scripted upstream, 5G.' }));
    const run = await runGemini(server, 'Say hello', { timeoutMs: 120_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /Hello from the scripted upstream, 5G\./, describeRun(run));
    const chat = upstream.chats()[0]!.json;
    assert.equal(chat.model, UPSTREAM_MODEL);
    assert.equal(chat.stream, true);
    assert.equal(chat.messages[0].role, 'system', 'systemInstruction becomes the system message');
    assert.match(chat.messages.at(-1).content, /Say hello/);
    assert.equal(chat.top_k, undefined, 'topK is not sent to an OpenAI-compatible upstream');
  });

  test('reasoning reaches Gemini CLI as thoughts, not as answer text', async (t) => {
    const { server } = await setup(t, () => ({ reasoning: 'SECRET-THOUGHT: weigh the options.', text: 'The visible answer is 7.' }));
    const run = await runGemini(server, 'Pick a number', { timeoutMs: 120_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /The visible answer is 7\./, describeRun(run));
    assert.doesNotMatch(run.stdout, /SECRET-THOUGHT/, describeRun(run));
  });

  test('the shell tool loop: run_shell_command, Gemini CLI runs it, the answer quotes its output', async (t) => {
    const { upstream, server } = await setup(t, (req): Reply => {
      const result = lastToolResult(req);
      if (result !== undefined) return { text: `The command printed: ${/gemini-marker-\d+/.exec(result)?.[0] ?? result}` };
      // Gemini CLI blocks $(( )) as command substitution; printf proves the shell ran just as well
      // (the command does not contain the string the answer must quote).
      if (toolNames(req).includes('run_shell_command')) return { toolCalls: [{ name: 'run_shell_command', arguments: { command: "printf 'gemini-marker-%s%s\\n' 4 2" } }] };
      return { text: 'no shell tool offered' };
    });
    const run = await runGemini(server, 'Run the marker command', { args: ['--yolo'], timeoutMs: 150_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /The command printed: gemini-marker-42/, describeRun(run));
    // The second turn carries the call and its result, paired by id as OpenAI requires.
    const second = upstream.chats().find((r) => lastToolResult(r.json) !== undefined)!.json;
    const assistant = second.messages.findLast((m: any) => m.role === 'assistant');
    const tool = second.messages.at(-1);
    assert.equal(assistant.tool_calls[0].function.name, 'run_shell_command');
    assert.equal(tool.role, 'tool');
    assert.equal(tool.tool_call_id, assistant.tool_calls[0].id);
    assert.match(tool.content, /gemini-marker-42/);
  });
});
