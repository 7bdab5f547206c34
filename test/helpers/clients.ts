/**
 * One driver per client API, each with the official SDK: a plain answer, a streamed answer, and a
 * tool-call round trip (ask, get a get_weather call, send its result back, get the final answer).
 * The all-pairs test runs every driver against every upstream family with the same expectations.
 */
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI, type Content } from '@google/genai';
import OpenAI from 'openai';
import { CLIENT_KEY, type TestProxy } from './proxy.js';

export interface ToolRoundTrip {
  /** The tool call the client saw. */
  readonly call: { readonly name: string; readonly args: unknown };
  /** The final answer after the tool result went back. */
  readonly answer: string;
}

export interface ClientDriver {
  readonly name: string;
  text(model: string): Promise<string>;
  stream(model: string): Promise<{ text: string; events: number }>;
  tools(model: string, result: string): Promise<ToolRoundTrip>;
}

const WEATHER_PARAMS = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
export const QUESTION = 'What is the weather in Paris?';

export function chatDriver(proxy: TestProxy): ClientDriver {
  const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL, maxRetries: 0 });
  const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather of a city', parameters: WEATHER_PARAMS } }];
  return {
    name: 'openai-chat',
    async text(model) {
      const res = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] });
      return res.choices[0]!.message.content ?? '';
    },
    async stream(model) {
      const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], stream: true });
      let text = '';
      let events = 0;
      for await (const chunk of stream) {
        events++;
        text += chunk.choices[0]?.delta?.content ?? '';
      }
      return { text, events };
    },
    async tools(model, result) {
      const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: QUESTION }];
      // The first leg streams (as coding clients do); arguments arrive in fragments.
      const stream = await client.chat.completions.create({ model, messages, tools, stream: true });
      let id = '';
      let name = '';
      let args = '';
      for await (const chunk of stream) {
        for (const call of chunk.choices[0]?.delta?.tool_calls ?? []) {
          id ||= call.id ?? '';
          name ||= call.function?.name ?? '';
          args += call.function?.arguments ?? '';
        }
      }
      messages.push({ role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name, arguments: args } }] });
      messages.push({ role: 'tool', tool_call_id: id, content: result });
      const final = await client.chat.completions.create({ model, messages, tools });
      return { call: { name, args: JSON.parse(args) }, answer: final.choices[0]!.message.content ?? '' };
    },
  };
}

export function anthropicDriver(proxy: TestProxy): ClientDriver {
  const client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: proxy.url, maxRetries: 0 });
  const tools = [{ name: 'get_weather', description: 'Weather of a city', input_schema: WEATHER_PARAMS as Anthropic.Tool.InputSchema }];
  const textOf = (m: Anthropic.Message) => m.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
  return {
    name: 'anthropic',
    async text(model) {
      return textOf(await client.messages.create({ model, max_tokens: 256, messages: [{ role: 'user', content: 'Hi' }] }));
    },
    async stream(model) {
      const stream = client.messages.stream({ model, max_tokens: 256, messages: [{ role: 'user', content: 'Hi' }] });
      let events = 0;
      stream.on('streamEvent', () => events++);
      const message = await stream.finalMessage();
      return { text: textOf(message), events };
    },
    async tools(model, result) {
      const messages: Anthropic.MessageParam[] = [{ role: 'user', content: QUESTION }];
      const first = await client.messages.stream({ model, max_tokens: 256, messages, tools }).finalMessage();
      const use = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
      if (!use) throw new Error(`no tool_use in ${JSON.stringify(first.content)}`);
      messages.push({ role: 'assistant', content: first.content });
      messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: result }] });
      const final = await client.messages.create({ model, max_tokens: 256, messages, tools });
      return { call: { name: use.name, args: use.input }, answer: textOf(final) };
    },
  };
}

export function responsesDriver(proxy: TestProxy): ClientDriver {
  const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: proxy.baseURL, maxRetries: 0 });
  const tools = [{ type: 'function' as const, name: 'get_weather', description: 'Weather of a city', parameters: WEATHER_PARAMS, strict: false }];
  return {
    name: 'responses',
    async text(model) {
      return (await client.responses.create({ model, input: 'Hi', store: false })).output_text;
    },
    async stream(model) {
      const stream = client.responses.stream({ model, input: 'Hi', store: false });
      let events = 0;
      let text = '';
      for await (const event of stream) {
        events++;
        if (event.type === 'response.output_text.delta') text += event.delta;
      }
      assert.equal((await stream.finalResponse()).output_text, text);
      return { text, events };
    },
    async tools(model, result) {
      // Codex CLI's way: stream, no stored state, the whole history in every request.
      const input: OpenAI.Responses.ResponseInput = [{ type: 'message', role: 'user', content: QUESTION }];
      const first = await client.responses.stream({ model, input, tools, store: false }).finalResponse();
      const call = (first.output as OpenAI.Responses.ResponseOutputItem[]).find((i): i is OpenAI.Responses.ResponseFunctionToolCall => i.type === "function_call");
      if (!call) throw new Error(`no function_call in ${JSON.stringify(first.output)}`);
      input.push(...(first.output as OpenAI.Responses.ResponseInputItem[]));
      input.push({ type: 'function_call_output', call_id: call.call_id, output: result });
      const final = await client.responses.create({ model, input, tools, store: false });
      return { call: { name: call.name, args: JSON.parse(call.arguments) }, answer: final.output_text };
    },
  };
}

export function geminiDriver(proxy: TestProxy): ClientDriver {
  const ai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: proxy.url } });
  const functionDeclarations = [{ name: 'get_weather', description: 'Weather of a city', parametersJsonSchema: WEATHER_PARAMS }];
  return {
    name: 'gemini',
    async text(model) {
      return (await ai.models.generateContent({ model, contents: 'Hi' })).text ?? '';
    },
    async stream(model) {
      let text = '';
      let events = 0;
      for await (const chunk of await ai.models.generateContentStream({ model, contents: 'Hi' })) {
        events++;
        text += chunk.text ?? '';
      }
      return { text, events };
    },
    async tools(model, result) {
      const contents: Content[] = [{ role: 'user', parts: [{ text: QUESTION }] }];
      const config = { tools: [{ functionDeclarations }] };
      let modelContent: Content | undefined;
      for await (const chunk of await ai.models.generateContentStream({ model, contents, config })) {
        const parts = chunk.candidates?.[0]?.content?.parts ?? [];
        if (parts.some((p) => p.functionCall)) modelContent = chunk.candidates![0]!.content;
      }
      const call = modelContent?.parts?.find((p) => p.functionCall)?.functionCall;
      if (!call) throw new Error('no functionCall');
      contents.push(modelContent!);
      contents.push({ role: 'user', parts: [{ functionResponse: { id: call.id, name: call.name, response: { result } } }] });
      const final = await ai.models.generateContent({ model, contents, config });
      return { call: { name: call.name ?? '', args: call.args }, answer: final.text ?? '' };
    },
  };
}
