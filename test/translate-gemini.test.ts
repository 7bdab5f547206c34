/**
 * The Gemini adapter pair as pure functions: requests recorded from Gemini CLI 0.61.0 (our own
 * short texts), Gemini schemas, and the stream state machine fed raw chat chunk data.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ProxyError } from '../src/errors.js';
import { estimatePromptTokens, streamToGemini, toChat, toGemini, toJsonSchema, wantsThoughts, type AnswerOptions } from '../src/translate/gemini/index.js';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/clients/${name}.json`, import.meta.url), 'utf8'));

const OPTS: AnswerOptions = { model: 'my-alias', id: 'fallback-id', includeThoughts: false, promptTokens: () => 50 };

describe('Gemini CLI requests → chat', () => {
  test('first turn: system instruction, both user text parts, tools, config; topK dropped', () => {
    const { body } = fixture('gemini-cli-first-turn');
    const chat = toChat(body, 'my-alias', true);
    assert.equal(Object.keys(chat)[0], 'model');
    assert.deepEqual(chat.messages, [
      { role: 'system', content: 'You are a CLI agent. Be concise.' },
      { role: 'user', content: `${body.contents[0].parts[0].text}\n\n${body.contents[0].parts[1].text}` },
    ]);
    assert.equal(chat.temperature, 1);
    assert.equal(chat.top_p, 0.95);
    assert.equal((chat as unknown as Record<string, unknown>).top_k, undefined);
    assert.equal(chat.reasoning_effort, undefined, 'includeThoughts alone asks for no effort');
    assert.deepEqual(chat.stream_options, { include_usage: true });
    assert.deepEqual(chat.tools!.map((t) => t.function.name), ['read_file', 'run_shell_command', 'activate_skill']);
    const shell = chat.tools!.find((t) => t.function.name === 'run_shell_command')!;
    assert.deepEqual(shell.function.parameters, body.tools[0].functionDeclarations[1].parametersJsonSchema);
    assert.equal(wantsThoughts(body), true);
  });

  test('tool turn: functionCall → assistant tool_calls, functionResponse → tool message with the same id', () => {
    const { body } = fixture('gemini-cli-tool-turn');
    const chat = toChat(body, 'my-alias', true);
    const [, , assistant, tool] = chat.messages;
    assert.deepEqual(assistant, {
      role: 'assistant', content: null,
      tool_calls: [{ id: 'run_shell_command_1795970709038_0', type: 'function', function: { name: 'run_shell_command', arguments: '{"command":"echo hi-from-shell","description":"echo"}' } }],
    });
    assert.deepEqual(tool, { role: 'tool', tool_call_id: 'run_shell_command_1795970709038_0', content: body.contents[2].parts[0].functionResponse.response.output });
    assert.equal(chat.messages.length, 4);
  });

  test('ids the CLI prefixes past 40 characters are shortened the same way on both sides', () => {
    const long = 'run_shell_command__call_0123456789abcdef0123456789';
    const chat = toChat({
      contents: [
        { role: 'user', parts: [{ text: 'go' }] },
        { role: 'model', parts: [{ functionCall: { id: long, name: 'run_shell_command', args: {} } }] },
        { role: 'user', parts: [{ functionResponse: { id: long, name: 'run_shell_command', response: { output: 'ok' } } }] },
      ],
    }, 'm', false);
    const callId = (chat.messages[1] as any).tool_calls[0].id as string;
    assert.match(callId, /^call_[0-9a-f]{24}$/);
    assert.equal((chat.messages[2] as any).tool_call_id, callId);
  });
});

describe('SDK-style requests → chat', () => {
  test('calls without ids get stable ids; responses pair with the oldest call of their name', () => {
    const contents = [
      { role: 'user', parts: [{ text: 'Weather in Paris and Rome?' }] },
      { role: 'model', parts: [{ thought: true, text: 'two calls' }, { functionCall: { name: 'get_weather', args: { city: 'Paris' } } }, { functionCall: { name: 'get_weather', args: { city: 'Rome' } } }] },
      { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: 18 } } }, { functionResponse: { name: 'get_weather', response: { temp: 25 } } }] },
    ];
    const a = toChat({ contents }, 'm', false);
    const b = toChat({ contents: [...contents, { role: 'model', parts: [{ text: 'Done.' }] }, { role: 'user', parts: [{ text: 'Thanks' }] }] }, 'm', false);
    const calls = (a.messages[1] as any).tool_calls;
    assert.equal(calls.length, 2);
    assert.notEqual(calls[0].id, calls[1].id);
    assert.equal((a.messages[1] as any).content, null, 'the thought part is dropped');
    assert.deepEqual(a.messages.slice(2), [
      { role: 'tool', tool_call_id: calls[0].id, content: '{"temp":18}' },
      { role: 'tool', tool_call_id: calls[1].id, content: '{"temp":25}' },
    ]);
    assert.deepEqual((b.messages[1] as any).tool_calls, calls, 'the same history gives the same ids on a later turn');
  });

  test('strict-upstream order: an unanswered call gets a "no result" message, an answer without its call becomes text', () => {
    const chat = toChat({
      contents: [
        { role: 'user', parts: [{ text: 'go' }] },
        { role: 'model', parts: [{ functionCall: { id: 'c1', name: 'run', args: {} } }] },
        { role: 'user', parts: [{ text: 'never mind' }] },
        { role: 'user', parts: [{ functionResponse: { name: 'other', response: { output: 'late' } } }] },
      ],
    }, 'm', false);
    assert.deepEqual(chat.messages.map((m) => m.role), ['user', 'assistant', 'tool', 'user']);
    assert.equal((chat.messages[2] as any).tool_call_id, 'c1');
    assert.match((chat.messages[3] as any).content, /never mind[\s\S]*late/);
  });

  test('inline media, snake_case fields, tool config, generation config', () => {
    const chat = toChat({
      system_instruction: { parts: [{ text: 'Be brief.' }, { text: 'Use French.' }] },
      contents: [{ parts: [{ text: 'What is this?' }, { inline_data: { mime_type: 'image/png', data: 'iVBORw0KGgo=' } }, { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0=' } }] }],
      tools: [{ googleSearch: {} }, { functionDeclarations: [{ name: 'a', parameters: { type: 'OBJECT', properties: {} } }, { name: 'b' }] }],
      toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['b'] } },
      generationConfig: { maxOutputTokens: 100, stopSequences: ['END'], candidateCount: 2, seed: 7, responseMimeType: 'application/json', thinkingConfig: { thinkingBudget: 10000 }, safetySettings: [] },
    }, 'm', false);
    assert.deepEqual(chat.messages[0], { role: 'system', content: 'Be brief.\n\nUse French.' });
    assert.deepEqual(chat.messages[1], {
      role: 'user',
      content: [
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'document.pdf' } },
      ],
    });
    assert.deepEqual(chat.tools!.map((t) => t.function.name), ['b']);
    assert.deepEqual(chat.tool_choice, { type: 'function', function: { name: 'b' } });
    assert.equal(chat.max_tokens, 100);
    assert.deepEqual(chat.stop, ['END']);
    assert.equal(chat.n, 2);
    assert.equal(chat.seed, 7);
    assert.deepEqual(chat.response_format, { type: 'json_object' });
    assert.equal(chat.reasoning_effort, 'medium');
    assert.equal(chat.stream, undefined);
  });

  test('thinkingLevel and budgets map to reasoning_effort; 0 and -1 leave the default', () => {
    const effort = (thinkingConfig: unknown) => toChat({ contents: [], generationConfig: { thinkingConfig } }, 'm', false).reasoning_effort;
    assert.equal(effort({ thinkingLevel: 'HIGH' }), 'high');
    assert.equal(effort({ thinkingLevel: 'minimal' }), 'low');
    assert.equal(effort({ thinkingBudget: 1024 }), 'low');
    assert.equal(effort({ thinkingBudget: 30000 }), 'high');
    assert.equal(effort({ thinkingBudget: 0 }), undefined);
    assert.equal(effort({ thinkingBudget: -1 }), undefined);
  });

  test('malformed requests are 400s naming the path', () => {
    const bad = (req: Record<string, unknown>, path: string) =>
      assert.throws(() => toChat(req, 'm', false), (e: unknown) => e instanceof ProxyError && e.status === 400 && e.message.startsWith(path));
    bad({}, 'contents');
    bad({ contents: [{ role: 'user', parts: [{ functionCall: { args: {} } }] }] }, 'contents[0].parts[0].functionCall.name');
    bad({ contents: [{ role: 'system', parts: [] }] }, 'contents[0].role');
    bad({ contents: [], generationConfig: { temperature: 'hot' } }, 'generationConfig.temperature');
  });

  test('countTokens estimate: characters / 4, inline media a flat 258', () => {
    const text = estimatePromptTokens({ contents: [{ role: 'user', parts: [{ text: 'x'.repeat(400) }] }] });
    assert.ok(text >= 100 && text < 120, String(text));
    const image = estimatePromptTokens({ contents: [{ role: 'user', parts: [{ inlineData: { mimeType: 'image/png', data: 'A'.repeat(100_000) } }] }] });
    assert.ok(image >= 258 && image < 280, String(image));
  });
});

describe('Gemini schemas → JSON Schema', () => {
  test('upper-case types, nullable, int64 strings, propertyOrdering', () => {
    const schema = {
      type: 'OBJECT',
      propertyOrdering: ['name', 'tags'],
      properties: {
        name: { type: 'STRING', nullable: true, description: 'Name' },
        tags: { type: 'ARRAY', items: { type: 'STRING', format: 'enum', enum: ['a', 'b'] }, minItems: '1', maxItems: '3' },
        any: { anyOf: [{ type: 'INTEGER' }, { type: 'BOOLEAN' }], nullable: true },
      },
      required: ['name'],
    };
    assert.deepEqual(toJsonSchema(schema), {
      type: 'object',
      properties: {
        name: { type: ['string', 'null'], description: 'Name' },
        tags: { type: 'array', items: { type: 'string', enum: ['a', 'b'] }, minItems: 1, maxItems: 3 },
        any: { anyOf: [{ type: 'integer' }, { type: 'boolean' }, { type: 'null' }] },
      },
      required: ['name'],
    });
  });

  test('JSON Schema input is unchanged (a property named "type" stays a property)', () => {
    const schema = { type: 'object', properties: { type: { type: 'string' }, items: { type: 'array', items: { $ref: '#/$defs/x' } } }, $defs: { x: { type: 'number' } }, additionalProperties: false };
    assert.deepEqual(toJsonSchema(schema), schema);
  });
});

const chunk = (delta: Record<string, unknown>, finish: string | null = null, index = 0) => JSON.stringify({ id: 'chatcmpl-1', choices: [{ index, delta, finish_reason: finish }] });
const usage = (prompt: number, completion: number, reasoning = 0) =>
  JSON.stringify({ id: 'chatcmpl-1', choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, completion_tokens_details: { reasoning_tokens: reasoning } } });

function run(events: string[], opts: Partial<AnswerOptions> = {}) {
  const s = streamToGemini({ ...OPTS, ...opts });
  const out = events.flatMap((e) => s.event(e));
  return [...out, ...s.end()];
}

describe('chat stream → Gemini stream objects', () => {
  test('text as it comes; finish and usage together in the last object', () => {
    const out = run([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hel' }), chunk({ content: 'lo' }), chunk({}, 'stop'), usage(9, 2), '[DONE]']);
    assert.deepEqual(out, [
      { candidates: [{ content: { role: 'model', parts: [{ text: 'Hel' }] }, index: 0 }], modelVersion: 'my-alias', responseId: 'chatcmpl-1' },
      { candidates: [{ content: { role: 'model', parts: [{ text: 'lo' }] }, index: 0 }], modelVersion: 'my-alias', responseId: 'chatcmpl-1' },
      {
        candidates: [{ content: { role: 'model', parts: [] }, finishReason: 'STOP', index: 0 }],
        modelVersion: 'my-alias', responseId: 'chatcmpl-1',
        usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 2, totalTokenCount: 11 },
      },
    ]);
  });

  test('a tool call goes out whole as soon as its arguments are complete', () => {
    const s = streamToGemini(OPTS);
    assert.deepEqual(s.event(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] })), []);
    assert.deepEqual(s.event(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] })), []);
    const out = s.event(chunk({ tool_calls: [{ index: 0, function: { arguments: ' "Paris"}' } }] }));
    assert.deepEqual(out[0]!.candidates[0]!.content.parts, [{ functionCall: { id: 'call_1', name: 'get_weather', args: { city: 'Paris' } } }]);
    assert.deepEqual(s.event(chunk({}, 'tool_calls')), []);
    const last = s.event('[DONE]');
    assert.equal(last[0]!.candidates[0]!.finishReason, 'STOP');
    assert.equal(last[0]!.usageMetadata!.promptTokenCount, 50, 'estimated without upstream usage');
  });

  test('parallel calls numbered 0 with distinct ids stay apart; no-argument calls go out at the finish', () => {
    const out = run([
      chunk({ tool_calls: [{ index: 0, id: 'a', function: { name: 'list', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, id: 'b', function: { name: 'read', arguments: '{"path":"x"}' } }] }),
      chunk({}, 'tool_calls'),
      '[DONE]',
    ]);
    const parts = out.flatMap((o) => o.candidates[0]!.content.parts);
    assert.deepEqual(parts, [{ functionCall: { id: 'a', name: 'list', args: {} } }, { functionCall: { id: 'b', name: 'read', args: { path: 'x' } } }]);
  });

  test('thoughts only when asked; usage splits thoughts from candidates', () => {
    const events = [chunk({ reasoning_content: 'Let me think.' }), chunk({ content: '42' }), chunk({}, 'stop'), usage(8, 10, 6)];
    const hidden = run(events);
    assert.deepEqual(hidden.flatMap((o) => o.candidates[0]!.content.parts), [{ text: '42' }]);
    const shown = run(events, { includeThoughts: true });
    assert.deepEqual(shown.flatMap((o) => o.candidates[0]!.content.parts), [{ text: 'Let me think.', thought: true }, { text: '42' }]);
    assert.deepEqual(shown.at(-1)!.usageMetadata, { promptTokenCount: 8, candidatesTokenCount: 4, thoughtsTokenCount: 6, totalTokenCount: 18 });
  });

  test('malformed call arguments: MALFORMED_FUNCTION_CALL, as Gemini reports it', () => {
    const out = run([chunk({ tool_calls: [{ index: 0, id: 'a', function: { name: 'f', arguments: '{"x": tru' } }] }), chunk({}, 'tool_calls'), '[DONE]']);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.candidates[0]!.finishReason, 'MALFORMED_FUNCTION_CALL');
  });

  test('length → MAX_TOKENS; several candidates keep their index', () => {
    const out = run([chunk({ content: 'a' }, null, 0), chunk({ content: 'b' }, null, 1), chunk({}, 'length', 0), chunk({}, 'stop', 1), usage(1, 2)]);
    assert.deepEqual(out.at(-1)!.candidates.map((c) => [c.index, c.finishReason]), [[0, 'MAX_TOKENS'], [1, 'STOP']]);
    assert.equal(out[1]!.candidates[0]!.index, 1);
  });

  test('an upstream error event and a cut-short stream throw ProxyErrors', () => {
    const s = streamToGemini(OPTS);
    s.event(chunk({ content: 'partial' }));
    assert.throws(() => s.event(JSON.stringify({ error: { message: 'overloaded', code: 503 } })), (e: unknown) => e instanceof ProxyError && e.status === 503);
    const t = streamToGemini(OPTS);
    t.event(chunk({ content: 'partial' }));
    assert.throws(() => t.end(), (e: unknown) => e instanceof ProxyError && e.code === 'upstream_stream_truncated');
  });
});

describe('chat completion → GenerateContentResponse', () => {
  test('text, calls with args objects, usage, ids', () => {
    const answer = toGemini({
      id: 'chatcmpl-9',
      choices: [{ index: 0, message: { content: 'Calling.', reasoning_content: 'hmm', tool_calls: [{ id: 'call_1', function: { name: 'f', arguments: '{"a":1}' } }] }, finish_reason: 'tool_calls' }],
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7, prompt_tokens_details: { cached_tokens: 2 } },
    }, OPTS);
    assert.deepEqual(answer, {
      candidates: [{ content: { role: 'model', parts: [{ text: 'Calling.' }, { functionCall: { id: 'call_1', name: 'f', args: { a: 1 } } }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4, totalTokenCount: 7, cachedContentTokenCount: 2 },
      modelVersion: 'my-alias',
      responseId: 'chatcmpl-9',
    });
    const filtered = toGemini({ choices: [{ message: { content: '' }, finish_reason: 'content_filter' }] }, OPTS);
    assert.equal(filtered.candidates[0]!.finishReason, 'SAFETY');
    assert.equal(filtered.responseId, 'fallback-id');
  });
});
