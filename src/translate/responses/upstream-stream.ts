/**
 * OpenAI Responses stream → chat completion chunks
 * (https://platform.openai.com/docs/api-reference/responses-streaming). Text and reasoning deltas
 * map one to one; a function_call output item opens a tool call (its output_index gives the chat
 * tool call index), its arguments deltas follow; response.completed / response.incomplete end the
 * answer with the finish reason and usage; response.failed and error events fail the stream.
 */
import { ProxyError } from '../../errors.js';
import { ChunkWriter, isObject, num, parseEvent, str, type ChatStreamAdapter, type Json } from '../chat/upstream-common.js';
import { finishReason, usageOf } from './upstream-response.js';

/** Status for a Responses error code, for classification and the client's error. */
export function errorStatus(code: unknown): number {
  switch (code) {
    case 'rate_limit_exceeded':
    case 'insufficient_quota':
    case 'usage_limit_reached':
      return 429;
    case 'context_length_exceeded':
    case 'invalid_prompt':
    case 'invalid_request_error':
      return 400;
    default:
      return 502;
  }
}

function failure(error: unknown): ProxyError {
  const e = isObject(error) ? error : {};
  return new ProxyError(errorStatus(e.code), 'upstream_stream_error', `upstream stream failed: ${str(e.message) ?? str(e.code) ?? 'error'}`);
}

export function responsesStreamToChat(model: string): ChatStreamAdapter {
  const out = new ChunkWriter('resp', model);
  /** output_index → tool call index */
  const calls = new Map<number, number>();
  let finished = false;
  const end = (response: Json) => {
    finished = true;
    const usage = usageOf(response.usage);
    return out.delta({}, finishReason(response, calls.size > 0)) + (usage ? out.usage(usage) : '') + out.done();
  };
  return {
    event(_name, data) {
      const ev = parseEvent(data);
      if (!ev) return '';
      const response = isObject(ev.response) ? ev.response : {};
      switch (ev.type) {
        case 'response.created':
          out.id = str(response.id) ?? out.id;
          out.model = str(response.model) ?? out.model;
          return out.delta({ role: 'assistant', content: '' });
        case 'response.output_text.delta':
          return out.delta({ content: str(ev.delta) ?? '' });
        case 'response.reasoning_summary_text.delta':
        case 'response.reasoning_text.delta':
          return out.delta({ reasoning_content: str(ev.delta) ?? '' });
        case 'response.output_item.added': {
          const item = isObject(ev.item) ? ev.item : {};
          if (item.type !== 'function_call') return '';
          const at = calls.size;
          calls.set(num(ev.output_index) ?? at, at);
          const call = { index: at, id: str(item.call_id) ?? `call_${at}`, type: 'function', function: { name: str(item.name) ?? '', arguments: str(item.arguments) ?? '' } };
          return out.delta({ tool_calls: [call] });
        }
        case 'response.function_call_arguments.delta': {
          const at = calls.get(num(ev.output_index) ?? -1);
          return at === undefined ? '' : out.delta({ tool_calls: [{ index: at, function: { arguments: str(ev.delta) ?? '' } }] });
        }
        case 'response.completed':
        case 'response.incomplete':
          return end(response);
        case 'response.failed':
          throw failure(response.error);
        case 'error':
          throw failure(ev);
        default:
          return '';
      }
    },
    end() {
      if (!finished) throw new ProxyError(502, 'upstream_stream_error', 'upstream stream ended before response.completed');
      return '';
    },
  };
}
