/**
 * Chat completion request → OpenAI Responses request (https://platform.openai.com/docs/api-reference/responses),
 * for a `codex-api-key` upstream. System and developer messages become `instructions`; the rest
 * becomes `input` items: messages, function_call and function_call_output. `store: false`: the
 * chat client keeps the history itself, and Codex endpoints refuse stored responses.
 */
import {
  asArray,
  contentParts,
  contentText,
  functionTools,
  isObject,
  maxTokensOf,
  num,
  str,
  toolCallsOf,
  type Json,
  type Part,
} from '../chat/upstream-common.js';

function inputPart(p: Part): Json | undefined {
  if (p.kind === 'text') return { type: 'input_text', text: p.text };
  if (p.kind === 'image') return { type: 'input_image', image_url: p.url, detail: 'auto' };
  if (p.data) {
    const file: Json = { type: 'input_file', file_data: `data:${p.data.mediaType};base64,${p.data.base64}` };
    file.filename = p.filename ?? 'document.pdf';
    return file;
  }
  return undefined;
}

function effort(value: unknown): string | undefined {
  return typeof value === 'string' && ['minimal', 'low', 'medium', 'high', 'xhigh'].includes(value) ? value : undefined;
}

export function chatToResponses(chat: Json, model: string): Json {
  const instructions: string[] = [];
  const input: Json[] = [];
  for (const m of asArray(chat.messages)) {
    if (!isObject(m)) continue;
    switch (m.role) {
      case 'system':
      case 'developer':
        instructions.push(contentText(m.content));
        break;
      case 'user': {
        const content: Json[] = [];
        for (const p of contentParts(m.content)) {
          const converted = inputPart(p);
          if (converted) content.push(converted);
        }
        if (content.length > 0) input.push({ type: 'message', role: 'user', content });
        break;
      }
      case 'assistant': {
        const text = contentText(m.content);
        if (text) input.push({ type: 'message', role: 'assistant', content: [{ type: 'output_text', text }] });
        for (const call of toolCallsOf(m)) input.push({ type: 'function_call', call_id: call.id, name: call.name, arguments: call.rawArgs || '{}' });
        break;
      }
      case 'tool':
        input.push({ type: 'function_call_output', call_id: str(m.tool_call_id) ?? '', output: contentText(m.content) });
        break;
    }
  }
  const out: Json = { model, input, store: false };
  const text = instructions.filter(Boolean).join('\n\n');
  if (text) out.instructions = text;
  const maxTokens = maxTokensOf(chat);
  if (maxTokens !== undefined) out.max_output_tokens = maxTokens;
  if (num(chat.temperature) !== undefined) out.temperature = chat.temperature;
  if (num(chat.top_p) !== undefined) out.top_p = chat.top_p;
  const reasoning = effort(chat.reasoning_effort);
  if (reasoning) out.reasoning = { effort: reasoning, summary: 'auto' };
  const tools = functionTools(chat.tools);
  if (tools.length > 0) {
    out.tools = tools.map((t) => ({ type: 'function', name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.parameters, strict: false }));
    const choice = chat.tool_choice;
    if (choice === 'auto' || choice === 'none' || choice === 'required') out.tool_choice = choice;
    else if (isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string') out.tool_choice = { type: 'function', name: choice.function.name };
    if (typeof chat.parallel_tool_calls === 'boolean') out.parallel_tool_calls = chat.parallel_tool_calls;
  }
  const format = isObject(chat.response_format) ? chat.response_format : undefined;
  if (format?.type === 'json_object') out.text = { format: { type: 'json_object' } };
  if (format?.type === 'json_schema' && isObject(format.json_schema)) {
    const schema = format.json_schema;
    out.text = { format: { type: 'json_schema', name: str(schema.name) ?? 'response', schema: schema.schema ?? {}, strict: schema.strict === true } };
  }
  if (chat.stream === true) out.stream = true;
  return out;
}
