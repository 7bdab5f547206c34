/**
 * The Anthropic → chat request translation fed what Claude Code 2.1.197 really sends: requests
 * recorded from the CLI (test/fixtures/clients/claude-*.json, its long prompts replaced by short
 * texts of ours), and variants of them with the other shapes Claude Code and the Messages API use.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { ProxyError } from '../src/errors.js';
import { toUpstream } from '../src/translate/anthropic/index.js';
import type { ChatRequest } from '../src/translate/openai-chat.js';

const fixture = (name: string): { headers: Record<string, string>; body: Record<string, any> } =>
  JSON.parse(readFileSync(new URL(`./fixtures/clients/${name}.json`, import.meta.url), 'utf8'));

const text = fixture('claude-text');
const bashResult = fixture('claude-bash-result');
const parallelImage = fixture('claude-parallel-image');
const thinkingBudget = fixture('claude-thinking-budget');

/** A fixture body with changes (deep copy: fixtures are shared between tests). */
const variant = (body: Record<string, any>, change: Record<string, unknown> = {}) => ({ ...structuredClone(body), ...change });

/** Only fields a chat upstream understands leave the translator. */
const CHAT_KEYS = new Set(['model', 'messages', 'max_tokens', 'temperature', 'top_p', 'stop', 'stream', 'stream_options', 'tools', 'tool_choice', 'parallel_tool_calls', 'reasoning_effort', 'response_format', 'user']);

function assertChatShape(chat: ChatRequest): void {
  for (const key of Object.keys(chat)) assert.ok(CHAT_KEYS.has(key), `unexpected key ${key}`);
  assert.equal(chat.messages[0]?.role, 'system');
  assert.ok(chat.messages.slice(1).every((m) => m.role !== 'system'), 'one system message, first');
  // OpenAI: every tool_calls message is followed at once by a tool message per call id.
  chat.messages.forEach((m, i) => {
    if (m.role !== 'assistant' || !m.tool_calls) return;
    const following = chat.messages.slice(i + 1, i + 1 + m.tool_calls.length);
    assert.deepEqual(following.map((f) => f.role === 'tool' && f.tool_call_id).sort(), m.tool_calls.map((c) => c.id).sort(), JSON.stringify(chat.messages.map((x) => x.role)));
  });
  chat.messages.forEach((m, i) => {
    if (m.role === 'tool') assert.ok(['assistant', 'tool'].includes(chat.messages[i - 1]!.role), 'no orphan tool message');
    if (m.role === 'user') assert.notEqual(chat.messages[i - 1]?.role, 'user', 'consecutive user turns are combined');
  });
}

describe('Claude Code 2.1.197 requests (recorded fixtures)', () => {
  test('first request: system blocks, a mid-conversation system entry, adaptive thinking, 4 tools', () => {
    const chat = toUpstream(variant(text.body), 'up-model');
    assertChatShape(chat);
    const system = chat.messages[0]!.content as string;
    assert.match(system, /^You are a Claude agent, built on Anthropic's Claude Agent SDK\.\n\n\(cliproxy fixture: system prompt/);
    assert.ok(!system.includes('x-anthropic-billing-header'), 'the attribution block is dropped');
    // The system entry after the user's prompt stays after it, as user text the model can read.
    assert.equal(chat.messages.length, 2);
    const user = chat.messages[1]!.content as string;
    assert.ok(user.indexOf('Say hello') < user.indexOf('<system-reminder>\n(cliproxy fixture: mid-conversation system message'), user);
    assert.deepEqual(chat.tools!.map((t) => t.function.name), ['Bash', 'Edit', 'Read', 'WebSearch']);
    assert.deepEqual(chat.tools![0]!.function.parameters, text.body.tools[0].input_schema);
    assert.equal(chat.reasoning_effort, 'high', 'output_config.effort "high" with thinking adaptive');
    assert.equal(chat.max_tokens, 32000);
    assert.equal(chat.stream, true);
    assert.deepEqual(chat.stream_options, { include_usage: true });
    // metadata.user_id is a JSON string with a device id: hashed, stable, not forwarded in clear.
    assert.match(chat.user!, /^u-[0-9a-f]{40}$/);
    assert.equal(toUpstream(variant(text.body), 'up-model').user, chat.user);
  });

  test('after a Bash call: tool_use → tool_calls, tool_result → the tool message right after it', () => {
    const chat = toUpstream(variant(bashResult.body), 'up-model');
    assertChatShape(chat);
    assert.deepEqual(chat.messages.map((m) => m.role), ['system', 'user', 'assistant', 'tool']);
    const assistant = chat.messages[2] as Extract<ChatRequest['messages'][number], { role: 'assistant' }>;
    assert.deepEqual(assistant.tool_calls, [{ id: 'toolu_01', type: 'function', function: { name: 'Bash', arguments: '{"command":"echo rec-marker-42","description":"echo"}' } }]);
    assert.deepEqual(chat.messages[3], { role: 'tool', tool_call_id: 'toolu_01', content: 'rec-marker-42' });
  });

  test('after thinking + two parallel calls, one returning an image: thinking dropped, image follows the tool messages', () => {
    const chat = toUpstream(variant(parallelImage.body), 'up-model');
    assertChatShape(chat);
    assert.deepEqual(chat.messages.map((m) => m.role), ['system', 'user', 'assistant', 'tool', 'tool', 'user']);
    assert.ok(!JSON.stringify(chat).includes('c2lnbmF0dXJl'), 'the thinking signature is not forwarded');
    assert.equal((chat.messages[3] as { content: string }).content, '', 'the image-only result has no text');
    assert.deepEqual(chat.messages[5], {
      role: 'user',
      content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${parallelImage.body.messages[3].content[0].content[0].source.data}` } }],
    });
  });

  test('a Claude model id: thinking enabled with a budget, system reminders inside the user text', () => {
    const chat = toUpstream(variant(thinkingBudget.body), 'up-model');
    assertChatShape(chat);
    assert.deepEqual(thinkingBudget.body.thinking, { budget_tokens: 10000, type: 'enabled' });
    assert.equal(chat.reasoning_effort, 'medium');
    assert.deepEqual(chat.messages.map((m) => m.role), ['system', 'user']);
    assert.match(chat.messages[1]!.content as string, /Say hello$/);
  });

  test('thinking variants map to reasoning_effort', () => {
    const effort = (thinking: unknown, output_config?: unknown) => toUpstream(variant(text.body, { thinking, output_config }), 'm').reasoning_effort;
    assert.equal(effort({ type: 'enabled', budget_tokens: 4000 }), 'low');
    assert.equal(effort({ type: 'enabled', budget_tokens: 10_000 }), 'medium');
    assert.equal(effort({ type: 'enabled', budget_tokens: 31_999 }), 'high');
    assert.equal(effort({ type: 'enabled' }), 'medium');
    assert.equal(effort({ type: 'adaptive' }), 'medium');
    assert.equal(effort({ type: 'adaptive' }, { effort: 'low' }), 'low');
    assert.equal(effort({ type: 'adaptive' }, { effort: 'max' }), 'high');
    assert.equal(effort({ type: 'disabled' }, { effort: 'high' }), undefined, 'disabled thinking leaves the upstream default');
    assert.equal(effort(undefined), undefined);
    assert.equal(effort({ type: 'enabled', budget_tokens: 'lots' }), 'medium', 'a malformed budget is not a 400');
  });

  test('server tools are dropped, custom tools kept; tool_choice variants', () => {
    const serverTools = [
      { type: 'web_search_20250305', name: 'web_search', max_uses: 8 },
      { type: 'web_fetch_20250910', name: 'web_fetch' },
      { type: 'bash_20250124', name: 'bash' },
      { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' },
      { type: 'computer_20250124', name: 'computer', display_width_px: 1024, display_height_px: 768 },
      { type: 'custom', name: 'Custom', input_schema: { type: 'object' } },
    ];
    const withTools = (tool_choice?: unknown) => toUpstream(variant(text.body, { tools: [...text.body.tools, ...serverTools], tool_choice }), 'm');
    const chat = withTools();
    assert.deepEqual(chat.tools!.map((t) => t.function.name), ['Bash', 'Edit', 'Read', 'WebSearch', 'Custom']);
    assert.deepEqual(chat.tools![4]!.function.parameters, { type: 'object', properties: {} });
    assert.equal(chat.tool_choice, undefined);
    assert.equal(withTools({ type: 'auto' }).tool_choice, 'auto');
    assert.equal(withTools({ type: 'any' }).tool_choice, 'required');
    assert.equal(withTools({ type: 'none' }).tool_choice, 'none');
    assert.deepEqual(withTools({ type: 'tool', name: 'Bash' }).tool_choice, { type: 'function', function: { name: 'Bash' } });
    assert.equal(withTools({ type: 'tool', name: 'web_search' }).tool_choice, undefined, 'a choice naming a dropped server tool is dropped');
    assert.equal(withTools({ type: 'auto', disable_parallel_tool_use: true }).parallel_tool_calls, false);
    assert.equal(withTools({ type: 'something_new' }).tool_choice, undefined);
    // Only server tools: no tools and no tool_choice at all (OpenAI rejects tool_choice without tools).
    const only = toUpstream(variant(text.body, { tools: serverTools.slice(0, 1), tool_choice: { type: 'any' } }), 'm');
    assert.equal(only.tools, undefined);
    assert.equal(only.tool_choice, undefined);
  });

  test('unknown fields and betas are dropped, sampling fields mapped', () => {
    const chat = toUpstream(
      variant(text.body, {
        top_k: 40,
        temperature: 1,
        stop_sequences: ['</answer>'],
        speed: 'fast',
        container: { id: 'c' },
        mcp_servers: [{ type: 'url', url: 'https://mcp.example', name: 'x' }],
        service_tier: 'auto',
        betas: ['some-future-beta'],
        a_field_from_the_future: { nested: true },
      }),
      'm',
    );
    assertChatShape(chat);
    assert.equal(chat.temperature, 1);
    assert.deepEqual(chat.stop, ['</answer>']);
  });

  test('content of every kind: documents, images by URL and file id, search results, unknown blocks', () => {
    const body = variant(text.body, {
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Leading system entry.' }] },
        {
          role: 'user',
          content: [
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' }, title: 'spec.pdf', citations: { enabled: true } },
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'plain doc' } },
            { type: 'document', source: { type: 'content', content: [{ type: 'text', text: 'content doc' }] } },
            { type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
            { type: 'image', source: { type: 'file', file_id: 'file_123' } },
            { type: 'search_result', source: 'https://example.com', title: 'Example', content: [{ type: 'text', text: 'found it' }] },
            { type: 'container_upload', file_id: 'file_9' },
            { type: 'a_block_from_the_future', data: 1 },
            { type: 'text', text: 'Summarise.', cache_control: { type: 'ephemeral', ttl: '1h' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'redacted_thinking', data: 'abc' },
            { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: 'q' } },
            { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [] },
            { type: 'text', text: 'Done.' },
          ],
        },
      ],
    });
    const chat = toUpstream(body, 'm');
    assertChatShape(chat);
    assert.match(chat.messages[0]!.content as string, /\n\nLeading system entry\.$/, 'a system entry before any turn joins the system prompt');
    assert.deepEqual(chat.messages[1], {
      role: 'user',
      content: [
        { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'spec.pdf' } },
        { type: 'text', text: 'plain doc' },
        { type: 'text', text: 'content doc' },
        { type: 'text', text: '[document at https://example.com/a.pdf]' },
        { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
        { type: 'text', text: '[image omitted: a file image source cannot be forwarded to this model]' },
        { type: 'text', text: 'Example — https://example.com\nfound it' },
        { type: 'text', text: 'Summarise.' },
      ],
    });
    assert.deepEqual(chat.messages[2], { role: 'assistant', content: 'Done.' });
  });

  test('tool turns are repaired for strict upstreams', () => {
    const call = (id: string) => ({ type: 'tool_use', id, name: 'Bash', input: { command: 'ls' } });
    const result = (id: string, content: unknown = 'ok') => ({ type: 'tool_result', tool_use_id: id, content });
    const chat = toUpstream(
      {
        model: 'm',
        messages: [
          { role: 'user', content: 'go' },
          { role: 'assistant', content: [call('a'), call('b')] },
          // A system entry between the call and its results, a result for b only, then text.
          { role: 'system', content: 'Reminder.' },
          { role: 'user', content: [result('b', [{ type: 'text', text: 'b out' }]), { type: 'text', text: 'next' }] },
          { role: 'assistant', content: 'fine' },
          // A result whose call was trimmed from the history.
          { role: 'user', content: [result('gone', 'old output')] },
        ],
      },
      'm',
    );
    assert.deepEqual(chat.messages, [
      { role: 'user', content: 'go' },
      { role: 'assistant', content: null, tool_calls: [call('a'), call('b')].map((c) => ({ id: c.id, type: 'function', function: { name: 'Bash', arguments: '{"command":"ls"}' } })) },
      { role: 'tool', tool_call_id: 'b', content: 'b out' },
      { role: 'tool', tool_call_id: 'a', content: '(no result: the tool call did not complete)' },
      { role: 'user', content: '<system-reminder>\nReminder.\n</system-reminder>\n\nnext' },
      { role: 'assistant', content: 'fine' },
      { role: 'user', content: 'Result of tool call gone:\nold output' },
    ]);
  });

  test('still strict where translation must read: a 400 naming the path', () => {
    const bad = variant(bashResult.body);
    bad.messages[2].content[0].id = 42;
    assert.throws(() => toUpstream(bad, 'm'), (e: ProxyError) => e.status === 400 && /^messages\.2\.content\.0\.id: must be a string/.test(e.message));
  });
});

describe('Claude Code 2.1.332: tool search (recorded fixture)', () => {
  const toolSearch = fixture('claude-tool-search');

  test('a tool_reference loads its deferred tool; the placeholder and unreferenced deferred tools stay hidden', () => {
    const chat = toUpstream(variant(toolSearch.body), 'up-model');
    assertChatShape(chat);
    const offered = chat.tools!.map((t) => t.function.name);
    assert.ok(offered.includes('ToolSearch') && offered.includes('Bash'));
    assert.ok(offered.includes('WebFetch'), 'WebFetch was named by the ToolSearch result');
    assert.ok(!offered.includes('DeferredToolPlaceholder'), 'a deferred tool nobody referenced is not offered');
    const webFetch = chat.tools!.find((t) => t.function.name === 'WebFetch')!;
    assert.deepEqual(webFetch.function.parameters, toolSearch.body.tools.find((t: any) => t.name === 'WebFetch').input_schema);
    // The tool result the model reads says what happened instead of being empty.
    const result = chat.messages.find((m) => m.role === 'tool')!;
    assert.equal(result.content, 'Tool WebFetch is loaded and can be called now.');
  });

  test('before any tool search, deferred tools are not offered', () => {
    const body = variant(toolSearch.body);
    body.messages = body.messages.slice(0, 2);
    const chat = toUpstream(body, 'up-model');
    const offered = chat.tools!.map((t) => t.function.name);
    assert.ok(!offered.includes('WebFetch') && !offered.includes('DeferredToolPlaceholder'), offered.join(','));
    assert.equal(offered.length, toolSearch.body.tools.filter((t: any) => t.defer_loading !== true).length);
  });
});
