/**
 * Chat completion request → Gemini generateContent request
 * (https://ai.google.dev/api/generate-content), for a `gemini-api-key` upstream. The model is in
 * the URL, not the body. Assistant turns are role `model`; tool results are `functionResponse`
 * parts of one user turn, named after the call they answer (Gemini matches them by name).
 */
import {
  asArray,
  contentParts,
  contentText,
  functionTools,
  isObject,
  maxTokensOf,
  num,
  stopList,
  str,
  thinkingBudget,
  toolCallsOf,
  type Json,
  type Part,
} from '../chat/upstream-common.js';

/**
 * Gemini 3 refuses a function call in the history without the thought signature it was issued
 * with; a chat client never saw one. Google documents this value for histories from elsewhere
 * (https://ai.google.dev/gemini-api/docs/thought-signatures).
 */
export const SKIP_SIGNATURE = 'skip_thought_signature_validator';

function part(p: Part): Json | undefined {
  if (p.kind === 'text') return { text: p.text };
  if (p.data) return { inlineData: { mimeType: p.data.mediaType, data: p.data.base64 } };
  if (p.kind === 'image') return { fileData: { fileUri: p.url } };
  return undefined;
}

function parts(content: unknown): Json[] {
  const out: Json[] = [];
  for (const p of contentParts(content)) {
    const converted = part(p);
    if (converted) out.push(converted);
  }
  return out;
}

function push(contents: Json[], role: 'user' | 'model', add: Json[]): void {
  if (add.length === 0) return;
  const last = contents.at(-1);
  if (last?.role === role) (last.parts as Json[]).push(...add);
  else contents.push({ role, parts: add });
}

function toolConfig(choice: unknown): Json | undefined {
  if (choice === 'auto') return { functionCallingConfig: { mode: 'AUTO' } };
  if (choice === 'required') return { functionCallingConfig: { mode: 'ANY' } };
  if (choice === 'none') return { functionCallingConfig: { mode: 'NONE' } };
  if (isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string') {
    return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.function.name] } };
  }
  return undefined;
}

/** A tool message's content as a functionResponse `response` object. */
function toolResponse(content: unknown): Json {
  const text = contentText(content);
  try {
    const parsed = JSON.parse(text) as unknown;
    if (isObject(parsed)) return parsed;
  } catch {
    /* plain text */
  }
  return { result: text };
}

export function chatToGemini(chat: Json): Json {
  const system: string[] = [];
  const contents: Json[] = [];
  const callNames = new Map<string, string>();
  for (const m of asArray(chat.messages)) {
    if (!isObject(m)) continue;
    switch (m.role) {
      case 'system':
      case 'developer':
        system.push(contentText(m.content));
        break;
      case 'user':
        push(contents, 'user', parts(m.content));
        break;
      case 'assistant': {
        const add = parts(m.content).filter((p) => p.text !== '');
        for (const call of toolCallsOf(m)) {
          callNames.set(call.id, call.name);
          add.push({ functionCall: { id: call.id, name: call.name, args: call.args }, thoughtSignature: SKIP_SIGNATURE });
        }
        push(contents, 'model', add);
        break;
      }
      case 'tool': {
        const id = str(m.tool_call_id) ?? '';
        const name = callNames.get(id) ?? str(m.name) ?? id;
        push(contents, 'user', [{ functionResponse: { id, name, response: toolResponse(m.content) } }]);
        break;
      }
    }
  }
  const out: Json = { contents };
  const systemText = system.filter(Boolean).join('\n\n');
  if (systemText) out.systemInstruction = { parts: [{ text: systemText }] };
  const generation: Json = {};
  const maxTokens = maxTokensOf(chat);
  if (maxTokens !== undefined) generation.maxOutputTokens = maxTokens;
  if (num(chat.temperature) !== undefined) generation.temperature = chat.temperature;
  if (num(chat.top_p) !== undefined) generation.topP = chat.top_p;
  const stop = stopList(chat.stop);
  if (stop) generation.stopSequences = stop;
  const budget = thinkingBudget(chat.reasoning_effort);
  if (budget !== undefined) generation.thinkingConfig = { thinkingBudget: budget, includeThoughts: true };
  const format = isObject(chat.response_format) ? chat.response_format : undefined;
  if (format?.type === 'json_object') generation.responseMimeType = 'application/json';
  if (format?.type === 'json_schema' && isObject(format.json_schema)) {
    generation.responseMimeType = 'application/json';
    if (format.json_schema.schema !== undefined) generation.responseJsonSchema = format.json_schema.schema;
  }
  if (Object.keys(generation).length > 0) out.generationConfig = generation;
  const tools = functionTools(chat.tools);
  if (tools.length > 0) {
    // parametersJsonSchema takes JSON Schema as clients write it; `parameters` is an OpenAPI subset.
    out.tools = [{ functionDeclarations: tools.map((t) => ({ name: t.name, ...(t.description ? { description: t.description } : {}), parametersJsonSchema: t.parameters })) }];
    const config = toolConfig(chat.tool_choice);
    if (config) out.toolConfig = config;
  }
  return out;
}
