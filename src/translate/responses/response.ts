/**
 * OpenAI chat completion → Responses `response` object, as pure functions; the helpers here (the
 * response shell echoing the request, item ids, usage, the finish → status mapping) are shared with
 * the stream adapter so that both paths give the same object.
 */
import { ProxyError } from '../../errors.js';
import type { ChatCompletion, ChatUsage } from '../openai-chat.js';
import { customInput, identityOf } from './tools.js';
import type { FunctionCallItem, Json, OutputItem, ResponseObject, ResponseUsage, ToolMap } from './types.js';

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ResponseOptions {
  /** `resp_…`; item ids are derived from it. */
  readonly id: string;
  /** The model id the client asked for. */
  readonly model: string;
  /** Unix seconds. */
  readonly createdAt: number;
  /** Chat function name → Responses tool (from the request translation). */
  readonly tools: ToolMap;
  /** Estimated input tokens, used only when the upstream reports no usage. */
  readonly inputTokens: number;
}

/** The request's settings as the response echoes them, with status in_progress and no output. */
export function responseShell(req: Json, opts: ResponseOptions): ResponseObject {
  const reasoning = isObject(req.reasoning) ? req.reasoning : {};
  return {
    id: opts.id,
    object: 'response',
    created_at: opts.createdAt,
    status: 'in_progress',
    background: false,
    error: null,
    incomplete_details: null,
    instructions: req.instructions ?? null,
    max_output_tokens: typeof req.max_output_tokens === 'number' ? req.max_output_tokens : null,
    model: opts.model,
    output: [],
    parallel_tool_calls: req.parallel_tool_calls !== false,
    previous_response_id: typeof req.previous_response_id === 'string' ? req.previous_response_id : null,
    reasoning: { effort: typeof reasoning.effort === 'string' ? reasoning.effort : null, summary: typeof reasoning.summary === 'string' ? reasoning.summary : null },
    store: req.store !== false,
    temperature: typeof req.temperature === 'number' ? req.temperature : 1,
    text: isObject(req.text) ? { format: { type: 'text' }, ...req.text } : { format: { type: 'text' } },
    tool_choice: req.tool_choice ?? 'auto',
    tools: Array.isArray(req.tools) ? req.tools : [],
    top_p: typeof req.top_p === 'number' ? req.top_p : 1,
    truncation: typeof req.truncation === 'string' ? req.truncation : 'disabled',
    usage: null,
    user: typeof req.user === 'string' ? req.user : null,
    metadata: isObject(req.metadata) ? req.metadata : {},
  };
}

/** `resp_` + the upstream-independent request id. */
export const responseId = (requestId: string): string => `resp_${requestId.replaceAll('-', '')}`;

/** Item ids: `msg_…`, `rs_…`, `fc_…`, `ctc_…` + the response id's tail + the output index. */
export function itemId(kind: 'msg' | 'rs' | 'fc' | 'ctc' | 'cmp', responseId: string, index: number): string {
  return `${kind}_${responseId.slice(5)}${index.toString(16).padStart(4, '0')}`;
}

/** The status a chat finish_reason gives, and why a response is incomplete. */
export function finishStatus(finish: string | null | undefined): Pick<ResponseObject, 'status' | 'incomplete_details'> {
  if (finish === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (finish === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

/** Chat usage in Responses terms (both count cached tokens inside the input); an estimate without it. */
export function usageOf(usage: ChatUsage | null | undefined, inputEstimate: number, outputChars: number): ResponseUsage {
  const input = usage?.prompt_tokens ?? inputEstimate;
  const output = usage?.completion_tokens ?? Math.ceil(outputChars / 4);
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: usage?.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: usage?.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: usage?.total_tokens ?? input + output,
  };
}

/** A finished tool call as its Responses item: `custom_tool_call` for freeform tools. */
export function callItem(tools: ToolMap, responseId: string, index: number, callId: string, chatName: string, args: string, status: FunctionCallItem['status']): OutputItem {
  const tool = identityOf(tools, chatName);
  const ns = tool.namespace ? { namespace: tool.namespace } : {};
  if (tool.custom) {
    return { id: itemId('ctc', responseId, index), type: 'custom_tool_call', status, call_id: callId, name: tool.name, input: customInput(args), ...ns };
  }
  return { id: itemId('fc', responseId, index), type: 'function_call', status, call_id: callId, name: tool.name, arguments: args, ...ns };
}

/** A chat completion as a Responses `response` object. */
export function toResponse(req: Json, completion: ChatCompletion, opts: ResponseOptions): ResponseObject {
  const choice = completion.choices?.[0];
  if (!choice) throw new ProxyError(502, 'upstream_invalid_response', 'upstream answer has no choices');
  const response = responseShell(req, opts);
  const msg = choice.message ?? {};
  const { status, incomplete_details } = finishStatus(choice.finish_reason);
  const itemStatus = status === 'incomplete' ? 'incomplete' : 'completed';
  const output = response.output;
  let chars = 0;
  const reasoning = msg.reasoning_content ?? msg.reasoning;
  if (typeof reasoning === 'string' && reasoning !== '') {
    output.push({ id: itemId('rs', opts.id, output.length), type: 'reasoning', summary: [{ type: 'summary_text', text: reasoning }] });
    chars += reasoning.length;
  }
  if (typeof msg.content === 'string' && msg.content !== '') {
    const content = [{ type: 'output_text' as const, text: msg.content, annotations: [], logprobs: [] }];
    output.push({ id: itemId('msg', opts.id, output.length), type: 'message', status: itemStatus, role: 'assistant', content });
    chars += msg.content.length;
  }
  (msg.tool_calls ?? []).forEach((call, i) => {
    const args = call.function?.arguments ?? '';
    chars += args.length;
    const callId = call.id || `call_${opts.id.slice(5)}_${i}`;
    output.push(callItem(opts.tools, opts.id, output.length, callId, call.function?.name ?? '', args, itemStatus));
  });
  response.status = status;
  response.incomplete_details = incomplete_details;
  response.usage = usageOf(completion.usage, opts.inputTokens, chars);
  return response;
}
