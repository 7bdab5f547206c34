/**
 * Responses ⇄ chat translators on recorded Codex CLI 0.171.0 request shapes (test/fixtures/clients,
 * with our own short texts) and raw upstream `data:` lines; the stream's events are replayed
 * through the openai SDK's own accumulator, so an event the SDK cannot place fails the test.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { accumulateResponse } from 'openai/lib/responses/ResponseAccumulator';
import { ProxyError } from '../src/errors.js';
import { responsesFailedEvent } from '../src/server/errors.js';
import { FreeformInput } from '../src/translate/responses/freeform-input.js';
import { toChat } from '../src/translate/responses/request.js';
import { toResponse, type ResponseOptions } from '../src/translate/responses/response.js';
import { responseToEvents, streamToResponses } from '../src/translate/responses/stream.js';
import { chatTools, qualifiedName } from '../src/translate/responses/tools.js';

const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`./fixtures/clients/${name}.json`, import.meta.url), 'utf8'));

const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [{ index: 0, delta, finish_reason: finish }] });
const usage = (prompt: number, completion: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id: 'chatcmpl-1', choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, ...extra } });

interface Ev {
  event: string;
  data: any;
}

/** Parses wire text; every event has an `event:` line equal to its data's type. */
function parseEvents(wire: string): Ev[] {
  return wire
    .split('\n\n')
    .filter((b) => b.trim() !== '')
    .map((block) => {
      const [eventLine, dataLine, ...rest] = block.split('\n');
      assert.equal(rest.length, 0, block);
      assert.ok(eventLine!.startsWith('event: ') && dataLine!.startsWith('data: '), block);
      const data = JSON.parse(dataLine!.slice(6));
      assert.equal(eventLine!.slice(7), data.type);
      return { event: data.type, data };
    });
}

/** Runs a stream through the SDK's accumulator: it throws on an event it cannot place. */
function replay(events: Ev[]): any {
  let snapshot: any;
  events.forEach((e, i) => {
    assert.equal(e.data.sequence_number, i, `sequence_number of event ${i} (${e.event})`);
    snapshot = accumulateResponse(e.data, snapshot);
  });
  return snapshot;
}

function run(request: Record<string, unknown>, lines: string[], end = true) {
  const { tools } = toChat(request, 'up-model');
  const opts: ResponseOptions = { id: 'resp_abc', model: String(request.model), createdAt: 1700000000, tools, inputTokens: 99 };
  const stream = streamToResponses({ ...opts, request, failedEvent: responsesFailedEvent });
  let wire = lines.map((l) => stream.event(l)).join('');
  if (end) wire += stream.end();
  return { events: parseEvents(wire), stream };
}

describe('request: Codex shapes → chat', () => {
  test('first turn: developer messages → one system message, user turns combined in order, tools flattened', () => {
    const req = fixture('codex-first-turn');
    const { chat, tools } = toChat(req, 'up-model');
    assert.equal(chat.model, 'up-model');
    assert.deepEqual(chat.messages.map((m) => m.role), ['system', 'user']);
    assert.equal(chat.messages[0]!.content, 'You are a coding agent in a terminal. Keep answers short.\n\n<skills_instructions>No skills are installed.</skills_instructions>\n\n<permissions instructions>Commands run without a sandbox.</permissions instructions>');
    assert.match(chat.messages[1]!.content as string, /^<environment_context>.*<\/environment_context>\n\nmake a patch$/s);
    const names = chat.tools!.map((t) => t.function.name);
    assert.deepEqual(names, ['exec_command', 'write_stdin', 'request_user_input', 'apply_patch', 'view_image', 'get_goal', 'create_goal', 'update_goal']);
    // apply_patch is freeform: one string argument, and the grammar for the model to follow
    const patch = chat.tools!.find((t) => t.function.name === 'apply_patch')!.function.parameters as any;
    assert.deepEqual(patch.required, ['input']);
    assert.match(patch.properties.input.description, /lark grammar:\nstart: "\*\*\* Begin Patch"/);
    assert.deepEqual(tools.get('apply_patch'), { name: 'apply_patch', custom: true });
    assert.equal(chat.reasoning_effort, 'medium');
    assert.equal(chat.tool_choice, 'auto');
    assert.equal(chat.parallel_tool_calls, true);
    assert.deepEqual(chat.stream_options, { include_usage: true });
    // fields without a chat meaning are not forwarded
    for (const key of ['include', 'store', 'prompt_cache_key', 'client_metadata', 'text', 'input', 'reasoning']) assert.ok(!(key in chat), key);
  });

  test('tool loop: encrypted reasoning dropped, function_call → assistant tool call, output → tool message', () => {
    const { chat } = toChat(fixture('codex-tool-loop'), 'up-model');
    const tail = chat.messages.slice(-2) as any[];
    assert.deepEqual(tail[0], { role: 'assistant', content: null, tool_calls: [{ id: 'call_a1', type: 'function', function: { name: 'exec_command', arguments: '{"cmd":"echo hello"}' } }] });
    assert.equal(tail[1].role, 'tool');
    assert.equal(tail[1].tool_call_id, 'call_a1');
    assert.match(tail[1].content, /Output:\nhello/);
    assert.ok(!JSON.stringify(chat).includes('gAAAAA'), 'encrypted reasoning must not reach the upstream');
    assert.ok(!JSON.stringify(chat).includes('reasoning_content'));
  });

  test('apply_patch loop: custom_tool_call → call with {"input"}, custom_tool_call_output → tool message', () => {
    const { chat } = toChat(fixture('codex-apply-patch'), 'up-model');
    const [call, output] = chat.messages.slice(-2) as any[];
    assert.equal(call.tool_calls[0].function.name, 'apply_patch');
    assert.deepEqual(JSON.parse(call.tool_calls[0].function.arguments), { input: '*** Begin Patch\n*** Add File: hello.txt\n+hi there\n*** End Patch\n' });
    assert.deepEqual(output, { role: 'tool', tool_call_id: 'call_apply_patch', content: 'Exit code: 0\nWall time: 0 seconds\nOutput:\nSuccess. Updated the following files:\nA hello.txt\n' });
  });

  test('namespace tools: qualified chat names that map back, calls with a namespace re-qualified', () => {
    const req = fixture('codex-namespace');
    const { chat, tools } = toChat(req, 'up-model');
    const names = chat.tools!.map((t) => t.function.name);
    assert.ok(names.includes('multi_agent_v1__wait_agent'), names.join());
    assert.ok(!names.includes('wait_agent'));
    assert.deepEqual(tools.get('multi_agent_v1__spawn_agent'), { name: 'spawn_agent', namespace: 'multi_agent_v1', custom: false });
    const call = (chat.messages.at(-2) as any).tool_calls[0];
    assert.equal(call.function.name, 'multi_agent_v1__wait_agent');
    // the summary-only reasoning request (reasoning: {summary}) sends no reasoning_effort
    assert.equal(chat.reasoning_effort, undefined);
  });

  test('names: MCP namespaces ending in __, invalid characters, 64-character limit', () => {
    assert.equal(qualifiedName('mcp__github__', 'create_issue'), 'mcp__github__create_issue');
    assert.equal(qualifiedName('tools', 'a.b'), 'tools__a_b');
    const long = qualifiedName('n'.repeat(40), 'x'.repeat(40));
    assert.equal(long.length, 64);
    assert.notEqual(long, qualifiedName('n'.repeat(40), 'x'.repeat(39) + 'y'));
    const { map } = chatTools([{ type: 'namespace', name: 'n'.repeat(40), tools: [{ type: 'function', name: 'x'.repeat(40), parameters: {} }] }]);
    assert.deepEqual(map.get(long), { name: 'x'.repeat(40), namespace: 'n'.repeat(40), custom: false });
  });

  test('SDK-style requests: instructions, string input, images, structured output, limits', () => {
    const { chat } = toChat(
      {
        model: 'm',
        instructions: 'Be brief.',
        input: [
          { role: 'user', content: [{ type: 'input_text', text: 'What is this?' }, { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'low' }] },
          { role: 'assistant', content: [{ type: 'output_text', text: 'A pixel.' }] },
          { role: 'developer', content: 'Answer in JSON now.' },
          { role: 'user', content: 'Again.' },
        ],
        max_output_tokens: 321,
        temperature: 0.2,
        text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true } },
        reasoning: { effort: 'HIGH' },
        tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }, { type: 'file_search', vector_store_ids: ['vs_1'] }],
        tool_choice: { type: 'function', name: 'f' },
        safety_identifier: 'user-7',
      },
      'up',
    );
    assert.deepEqual(chat.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } }] },
      { role: 'assistant', content: 'A pixel.' },
      { role: 'user', content: 'Answer in JSON now.\n\nAgain.' },
    ]);
    assert.equal(chat.max_tokens, 321);
    assert.equal(chat.temperature, 0.2);
    assert.deepEqual(chat.response_format, { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } });
    assert.equal(chat.reasoning_effort, 'high');
    assert.deepEqual(chat.tools!.map((t) => t.function.name), ['f']);
    assert.deepEqual(chat.tool_choice, { type: 'function', function: { name: 'f' } });
    assert.equal(chat.user, 'user-7');
    assert.equal(chat.stream, undefined);
    assert.deepEqual(toChat({ model: 'm', input: 'hi' }, 'up').chat.messages, [{ role: 'user', content: 'hi' }]);
  });

  test('parallel calls share one assistant message; images from tool outputs follow the tool messages', () => {
    const { chat } = toChat(
      {
        model: 'm',
        input: [
          { role: 'user', content: 'look' },
          { type: 'function_call', call_id: 'c1', name: 'view_image', arguments: '{"path":"a.png"}' },
          { type: 'function_call', call_id: 'c2', name: 'view_image', arguments: '{"path":"b.png"}' },
          { type: 'function_call_output', call_id: 'c1', output: [{ type: 'input_image', image_url: 'data:image/png;base64,QQ==' }] },
          { type: 'function_call_output', call_id: 'c2', output: { content: 'no such file', success: false } },
        ],
      },
      'up',
    );
    assert.deepEqual(chat.messages.map((m) => m.role), ['user', 'assistant', 'tool', 'tool', 'user']);
    assert.equal((chat.messages[1] as any).tool_calls.length, 2);
    assert.equal((chat.messages[3] as any).content, 'no such file');
    assert.deepEqual(chat.messages[4], { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,QQ==' } }] });
  });

  test('our own reasoning summary (no encrypted_content) goes back as reasoning_content', () => {
    const { chat } = toChat(
      { model: 'm', input: [{ role: 'user', content: 'q' }, { type: 'reasoning', summary: [{ type: 'summary_text', text: 'think' }] }, { type: 'function_call', call_id: 'c', name: 'f', arguments: '{}' }, { type: 'function_call_output', call_id: 'c', output: 'ok' }] },
      'up',
    );
    assert.equal((chat.messages[1] as any).reasoning_content, 'think');
  });

  test('an unanswered call gets a "no result" tool message; an output without its call becomes user text', () => {
    const { chat } = toChat({ model: 'm', input: [{ role: 'user', content: 'go' }, { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' }, { role: 'user', content: 'stop' }, { type: 'function_call_output', call_id: 'zz', output: 'late' }] }, 'up');
    assert.deepEqual(chat.messages.map((m) => m.role), ['user', 'assistant', 'tool', 'user']);
    assert.match((chat.messages[2] as any).content, /no result/);
    assert.match((chat.messages[3] as any).content, /^stop\n\nResult of tool call zz:\nlate$/);
  });

  test('invalid requests are 400s naming the field; unknown items and tools are dropped', () => {
    const bad = (req: Record<string, unknown>, pattern: RegExp) =>
      assert.throws(() => toChat({ model: 'm', ...req }, 'up'), (e: unknown) => e instanceof ProxyError && e.status === 400 && pattern.test(e.message));
    bad({}, /^input: is required/);
    bad({ input: 42 }, /^input: must be a string or an array/);
    bad({ input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1' }] }] }, /input\.0\.content\.0\.image_url/);
    bad({ input: [{ type: 'function_call_output', output: 'x' }] }, /input\.0\.call_id: must be a string/);
    bad({ input: 'x', max_output_tokens: 'many' }, /max_output_tokens/);
    const { chat } = toChat({ model: 'm', input: [{ type: 'item_reference', id: 'x' }, { type: 'web_search_call', id: 'ws' }, 'plain'], tools: [{ type: 'web_search' }], tool_choice: 'required' }, 'up');
    assert.deepEqual(chat.messages, [{ role: 'user', content: 'plain' }]);
    assert.equal(chat.tools, undefined);
    assert.equal(chat.tool_choice, undefined);
  });
});

describe('stream: chat chunks → Responses events', () => {
  test('text: the documented event sequence, usage with cached and reasoning tokens', () => {
    const { events, stream } = run({ model: 'gpt-x', input: 'hi', stream: true }, [
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Hel' }),
      chunk({ content: 'lo' }),
      chunk({}, 'stop'),
      usage(20, 7, { prompt_tokens_details: { cached_tokens: 12 }, completion_tokens_details: { reasoning_tokens: 3 } }),
      '[DONE]',
    ]);
    assert.deepEqual(events.map((e) => e.event), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const final = replay(events);
    assert.equal(final.output_text, 'Hello');
    assert.equal(final.status, 'completed');
    assert.equal(final.model, 'gpt-x');
    assert.deepEqual(final.usage, { input_tokens: 20, input_tokens_details: { cached_tokens: 12 }, output_tokens: 7, output_tokens_details: { reasoning_tokens: 3 }, total_tokens: 27 });
    assert.equal(stream.result()?.id, 'resp_abc');
    assert.equal(stream.result()?.output[0]?.type, 'message');
  });

  test('reasoning_content → reasoning item with summary deltas, then the message', () => {
    const { events } = run({ model: 'm', input: 'q', stream: true }, [chunk({ reasoning_content: 'Think' }), chunk({ reasoning_content: 'ing.' }), chunk({ content: '42' }), chunk({}, 'stop'), '[DONE]']);
    const types = events.map((e) => e.event);
    assert.deepEqual(types.slice(2, 7), ['response.output_item.added', 'response.reasoning_summary_part.added', 'response.reasoning_summary_text.delta', 'response.reasoning_summary_text.delta', 'response.reasoning_summary_text.done']);
    const final = replay(events);
    assert.deepEqual(final.output.map((o: any) => o.type), ['reasoning', 'message']);
    assert.equal(final.output[0].summary[0].text, 'Thinking.');
    assert.equal(final.output_text, '42');
  });

  test('Codex tools: exec_command streams arguments, apply_patch becomes a custom_tool_call, namespaced calls name their namespace', () => {
    const req = { ...fixture('codex-first-turn'), tools: [...(fixture('codex-first-turn').tools as unknown[]), ...(fixture('codex-namespace').tools as any[]).filter((t) => t.type === 'namespace')] };
    const patch = JSON.stringify({ input: '*** Begin Patch\n*** Add File: a.txt\n+é "q"\n*** End Patch\n' });
    const cut = patch.indexOf('\\n') + 1; // split inside an escape sequence
    const { events } = run(req, [
      chunk({ role: 'assistant', content: 'Working.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_x', type: 'function', function: { name: 'exec_command', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"cmd":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"ls"}' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_p', type: 'function', function: { name: 'apply_patch', arguments: patch.slice(0, cut) } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: patch.slice(cut) } }] }),
      chunk({ tool_calls: [{ index: 2, id: 'call_w', type: 'function', function: { name: 'multi_agent_v1__wait_agent', arguments: '{"targets":[]}' } }] }),
      chunk({}, 'tool_calls'),
      usage(50, 30),
      '[DONE]',
    ]);
    const final = replay(events);
    const [message, exec, apply, wait] = final.output;
    assert.equal(message.content[0].text, 'Working.');
    assert.deepEqual({ ...exec, id: undefined }, { id: undefined, type: 'function_call', status: 'completed', call_id: 'call_x', name: 'exec_command', arguments: '{"cmd":"ls"}' });
    assert.equal(apply.type, 'custom_tool_call');
    assert.equal(apply.input, '*** Begin Patch\n*** Add File: a.txt\n+é "q"\n*** End Patch\n');
    assert.equal(apply.call_id, 'call_p');
    assert.deepEqual([wait.type, wait.name, wait.namespace, wait.arguments], ['function_call', 'wait_agent', 'multi_agent_v1', '{"targets":[]}']);
    const argDeltas = events.filter((e) => e.event === 'response.function_call_arguments.delta' && e.data.output_index === 1).map((e) => e.data.delta);
    assert.deepEqual(argDeltas, ['{"cmd":', '"ls"}']);
    const inputDeltas = events.filter((e) => e.event === 'response.custom_tool_call_input.delta').map((e) => e.data.delta);
    assert.equal(inputDeltas.join(''), apply.input);
    assert.ok(inputDeltas.length >= 2, 'the patch streams in pieces');
  });

  test('finish_reason length → response.incomplete with max_output_tokens', () => {
    const { events } = run({ model: 'm', input: 'q', stream: true }, [chunk({ content: 'Once upon' }), chunk({}, 'length'), '[DONE]']);
    const last = events.at(-1)!;
    assert.equal(last.event, 'response.incomplete');
    assert.equal(last.data.response.status, 'incomplete');
    assert.deepEqual(last.data.response.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(last.data.response.output[0].status, 'incomplete');
    replay(events);
  });

  test('upstream error chunk, truncated stream, and a broken connection → response.failed', () => {
    const errored = run({ model: 'm', input: 'q' }, [chunk({ content: 'par' }), JSON.stringify({ error: { message: 'overloaded', code: 'server_overloaded' } })]).events;
    const failed = errored.at(-1)!;
    assert.equal(failed.event, 'response.failed');
    assert.deepEqual(failed.data.response.error, { code: 'server_overloaded', message: 'overloaded' });
    assert.equal(failed.data.response.status, 'failed');
    replay(errored);

    const truncated = run({ model: 'm', input: 'q' }, [chunk({ content: 'par' })]).events.at(-1)!;
    assert.equal(truncated.event, 'response.failed');
    assert.equal(truncated.data.response.error.code, 'upstream_stream_truncated');

    const { stream } = run({ model: 'm', input: 'q' }, [chunk({ content: 'par' })], false);
    const broken = parseEvents(stream.fail(new ProxyError(502, 'upstream_stream_error', 'upstream x failed mid-stream: socket hang up')));
    assert.equal(broken[0]!.data.sequence_number, 5);
    assert.equal(stream.end(), '', 'nothing after the failure');
    assert.equal(stream.result(), undefined);
  });

  test('keep-alive: an SSE comment, only while the response is open', () => {
    const stream = streamToResponses({ id: 'resp_k', model: 'm', createdAt: 1, tools: new Map(), inputTokens: 1, request: { input: 'q' }, failedEvent: responsesFailedEvent, keepAliveMs: 5 });
    assert.equal(stream.keepAlive?.everyMs, 5);
    assert.equal(stream.keepAlive!.text(), '', 'nothing before response.created');
    stream.event(chunk({ content: 'a' }));
    assert.equal(stream.keepAlive!.text(), ': keep-alive\n\n');
    stream.event('[DONE]');
    assert.equal(stream.keepAlive!.text(), '', 'nothing after response.completed');
  });

  test('a plain JSON answer replayed as events gives the same response as toResponse', () => {
    const req = fixture('codex-first-turn');
    const { tools } = toChat(req, 'up');
    const completion = {
      choices: [{ index: 0, message: { role: 'assistant', reasoning_content: 'hmm', content: 'Patching.', tool_calls: [{ id: 'call_p', type: 'function', function: { name: 'apply_patch', arguments: '{"input":"*** Begin Patch\\n*** End Patch\\n"}' } }] }, finish_reason: 'tool_calls' }],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    };
    const response = toResponse(req, completion, { id: 'resp_1', model: 'gpt-5.5', createdAt: 1, tools, inputTokens: 3 });
    assert.deepEqual(response.output.map((o) => o.type), ['reasoning', 'message', 'custom_tool_call']);
    assert.equal((response.output[2] as any).input, '*** Begin Patch\n*** End Patch\n');
    const final = replay(parseEvents(responseToEvents(response)));
    assert.deepEqual(final.output, response.output);
    assert.equal(final.status, 'completed');
  });
});

describe('freeform input decoding', () => {
  test('decodes the input string across every possible split, escapes included', () => {
    const value = 'line 1\n"quoted" \\ back\tslash é \u00e9 😀 end';
    const args = JSON.stringify({ input: value });
    for (let cut = 0; cut <= args.length; cut++) {
      for (let cut2 = cut; cut2 <= args.length; cut2 += 7) {
        const f = new FreeformInput();
        const out = f.feed(args.slice(0, cut)) + f.feed(args.slice(cut, cut2)) + f.feed(args.slice(cut2));
        assert.equal(out, value, `cuts ${cut}/${cut2}`);
      }
    }
  });

  test('other argument shapes give no deltas', () => {
    const f = new FreeformInput();
    assert.equal(f.feed('{"patch": "x"}'), '');
  });
});
