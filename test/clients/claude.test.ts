/**
 * Claude Code (pinned in scripts/clients.json), run headless against the built cliproxy and
 * a scripted OpenAI-compatible upstream: the whole agent loop through the Anthropic → chat
 * translation, as a user would run it. `npm run test:clients` installs the CLI first.
 */
import assert from 'node:assert/strict';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { describeRun, lastToolResult, runClaude, startBuiltServer, startScriptedUpstream, toolNames, UPSTREAM_MODEL, type BuiltServer, type Reply, type Script, type ScriptedUpstream } from './harness.js';

/** One upstream + server per case, so that each case's recorded requests are its own. */
async function setup(script: Script): Promise<{ upstream: ScriptedUpstream; server: BuiltServer; close(): Promise<void> }> {
  const upstream = await startScriptedUpstream(script);
  const server = await startBuiltServer(upstream);
  return { upstream, server, close: async () => void (await Promise.all([server.close(), upstream.close()])) };
}

/** Claude Code's main loop offers its tools; side requests (titles, summaries) offer none. */
const isMainLoop = (req: any) => toolNames(req).includes('Bash');

describe('Claude Code through cliproxy', () => {
  test('a text answer', async (t) => {
    const env = await setup(() => ({ text: 'Hello from the scripted upstream, 7Q.' }));
    t.after(() => env.close());
    const run = await runClaude(env.server, 'Say hello', { timeoutMs: 90_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /Hello from the scripted upstream, 7Q\./, describeRun(run));
    const main = env.upstream.chats().map((r) => r.json).find(isMainLoop);
    assert.ok(main, 'the upstream saw the main-loop request');
    assert.equal(main.model, UPSTREAM_MODEL);
    assert.equal(main.stream, true);
    // Claude Code's mid-conversation system messages reach the model in order, as user text.
    assert.equal(main.messages[0].role, 'system');
    assert.ok(main.messages.slice(1).every((m: any) => m.role !== 'system'), JSON.stringify(main.messages.map((m: any) => m.role)));
    assert.ok(JSON.stringify(main.messages).includes('Say hello'));
  });

  test('the Bash tool loop: tool call, Claude Code runs it, the answer quotes its output', async (t) => {
    const env = await setup((req): Reply => {
      const result = lastToolResult(req);
      if (result !== undefined) return { text: `The command printed: ${result.trim()}` };
      // Reasoning first, as reasoning models stream it: Claude Code gets a thinking block, then the call.
      if (isMainLoop(req)) return { reasoning: 'The user wants the marker; run it.', toolCalls: [{ name: 'Bash', arguments: { command: 'echo cliproxy-marker-$((6*7))', description: 'Print a marker' } }] };
      return { text: 'side answer' };
    });
    t.after(() => env.close());
    const run = await runClaude(env.server, 'Run the marker command', { args: ['--allowedTools', 'Bash'], timeoutMs: 120_000 });
    assert.equal(run.code, 0, describeRun(run));
    // 6*7 was computed by the shell Claude Code ran: the tool really ran, and its result came back.
    assert.match(run.stdout, /The command printed: cliproxy-marker-42/, describeRun(run));
    const chats = env.upstream.chats().map((r) => r.json).filter(isMainLoop);
    const second = chats.find((c) => lastToolResult(c) !== undefined);
    assert.ok(second, 'a request carried the tool result');
    const assistant = second.messages.find((m: any) => m.role === 'assistant' && m.tool_calls);
    assert.equal(assistant.tool_calls[0].function.name, 'Bash');
    const tool = second.messages.find((m: any) => m.role === 'tool');
    assert.equal(tool.tool_call_id, assistant.tool_calls[0].id);
  });

  // Claude Code 2.1.3xx hides rarely used tools behind ToolSearch (Anthropic's tool search): the
  // result is a tool_reference block, and the tool joins the list with defer_loading. A chat model
  // must see the loaded tool offered, and a tool result that says so, not an empty one.
  test('tool search: ToolSearch loads a deferred tool, the model calls it, Claude Code runs it', async (t) => {
    let step = 0;
    const env = await setup((req): Reply => {
      if (!isMainLoop(req)) return { text: 'side answer' };
      step++;
      if (step === 1) return { toolCalls: [{ name: 'ToolSearch', arguments: { query: 'select:CronList' } }] };
      if (step === 2 && toolNames(req).includes('CronList')) return { toolCalls: [{ name: 'CronList', arguments: {} }] };
      return { text: `Cron list said: ${(lastToolResult(req) ?? '').trim().slice(0, 80)}` };
    });
    t.after(() => env.close());
    const run = await runClaude(env.server, 'List the cron jobs', { args: ['--allowedTools', 'ToolSearch,CronList'], timeoutMs: 120_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /Cron list said: \S/, describeRun(run));
    const chats = env.upstream.chats().map((r) => r.json).filter(isMainLoop);
    assert.ok(!toolNames(chats[0]).includes('CronList'), 'not offered before the search');
    assert.ok(!toolNames(chats[0]).some((n) => n === 'DeferredToolPlaceholder'), 'the placeholder is never offered');
    assert.ok(toolNames(chats[1]).includes('CronList'), 'offered once the search named it');
    const loaded = chats[1].messages.find((m: any) => m.role === 'tool');
    assert.equal(loaded.content, 'Tool CronList is loaded and can be called now.');
    const calls = (chats.at(-1)?.messages ?? []).flatMap((m: any) => (m.role === 'assistant' ? (m.tool_calls ?? []) : []));
    assert.ok(calls.some((c: any) => c.function.name === 'CronList'), 'the call went back to the model');
    // The scripted upstream numbers its calls call_scripted_0 in every answer, as some servers do:
    // cliproxy gives the second one a new id, or Claude Code would drop the answer and ask again.
    assert.equal(new Set(calls.map((c: any) => c.id)).size, calls.length, JSON.stringify(calls.map((c: any) => c.id)));
    assert.equal(chats.length, 3, 'no request was sent twice');
  });

  test('parallel tool calls in one turn', async (t) => {
    const env = await setup((req): Reply => {
      const result = lastToolResult(req);
      if (result !== undefined) return { text: `Both ran: ${result.replace(/\s+/g, ' ').trim()}` };
      if (isMainLoop(req)) {
        return {
          toolCalls: [
            { name: 'Bash', id: 'call_alpha', arguments: { command: 'echo alpha-$((1+1))', description: 'first' } },
            { name: 'Bash', id: 'call_beta', arguments: { command: 'echo beta-$((2+2))', description: 'second' } },
          ],
        };
      }
      return { text: 'side answer' };
    });
    t.after(() => env.close());
    const run = await runClaude(env.server, 'Run both commands', { args: ['--allowedTools', 'Bash'], timeoutMs: 120_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /Both ran: /, describeRun(run));
    assert.match(run.stdout, /alpha-2/, describeRun(run));
    assert.match(run.stdout, /beta-4/, describeRun(run));
    const second = env.upstream.chats().map((r) => r.json).filter(isMainLoop).find((c) => lastToolResult(c) !== undefined);
    const tools = second.messages.filter((m: any) => m.role === 'tool').map((m: any) => m.tool_call_id).sort();
    assert.deepEqual(tools, ['call_alpha', 'call_beta']);
  });

  test('an image in a tool result reaches the upstream as an image part', async (t) => {
    const cwd = await mkdtemp(join(tmpdir(), 'cliproxy-claude-image-'));
    // A 1×1 PNG for Claude Code's Read tool, which returns images as image blocks in tool_result.
    await writeFile(join(cwd, 'dot.png'), Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC', 'base64'));
    const env = await setup((req): Reply => {
      if (lastToolResult(req) !== undefined) return { text: 'I looked at the image: one green dot.' };
      if (isMainLoop(req)) return { toolCalls: [{ name: 'Read', arguments: { file_path: join(cwd, 'dot.png') } }] };
      return { text: 'side answer' };
    });
    t.after(async () => {
      await env.close();
      await rm(cwd, { recursive: true, force: true });
    });
    const run = await runClaude(env.server, 'Look at dot.png', { args: ['--allowedTools', 'Read'], cwd, timeoutMs: 120_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stdout, /one green dot/, describeRun(run));
    const second = env.upstream.chats().map((r) => r.json).filter(isMainLoop).find((c) => lastToolResult(c) !== undefined);
    const parts = second.messages.flatMap((m: any) => (Array.isArray(m.content) ? m.content : []));
    assert.ok(parts.some((p: any) => p.type === 'image_url' && p.image_url.url.startsWith('data:image/png;base64,')), JSON.stringify(second.messages).slice(-2000));
  });

  test('a long streamed answer arrives whole', async (t) => {
    const lines = Array.from({ length: 400 }, (_, i) => `Line ${i + 1} of the long answer: ${'abcdefghij'.repeat(3)}`);
    const text = lines.join('\n');
    const env = await setup(() => ({ text, chunkChars: 7 }));
    t.after(() => env.close());
    const run = await runClaude(env.server, 'Write a long answer', { timeoutMs: 120_000 });
    assert.equal(run.code, 0, describeRun(run));
    assert.ok(text.length > 20_000);
    assert.ok(run.stdout.includes(text), `stdout (${run.stdout.length} chars) lacks the ${text.length}-char answer\n${describeRun(run)}`);
  });
});
