/**
 * Anthropic Messages stream → chat completion chunks
 * (https://docs.anthropic.com/en/docs/build-with-claude/streaming): message_start opens the
 * assistant turn, content_block_* carry text, thinking and tool input deltas, message_delta the stop
 * reason and output tokens, message_stop ends it ([DONE]). A tool_use block's index in the message
 * becomes a tool call index counted from 0.
 */
import { ProxyError } from '../../errors.js';
import { ChunkWriter, isObject, num, parseEvent, str, type ChatStreamAdapter } from '../chat/upstream-common.js';
import { finishReason, usageOf } from './upstream-response.js';

/** An Anthropic error event's message, for the client's error event. */
function streamError(event: Record<string, unknown>): ProxyError {
  const error = isObject(event.error) ? event.error : {};
  const type = str(error.type) ?? 'api_error';
  const status = type === 'overloaded_error' ? 529 : type === 'rate_limit_error' ? 429 : 502;
  return new ProxyError(status, 'upstream_stream_error', `upstream stream failed: ${type}: ${str(error.message) ?? ''}`.trim());
}

export function messagesStreamToChat(model: string): ChatStreamAdapter {
  const out = new ChunkWriter('msg', model);
  /** content block index → tool call index */
  const tools = new Map<number, number>();
  let usage: Record<string, unknown> = {};
  let sawToolUse = false;
  let finished = false;
  return {
    event(_name, data) {
      const ev = parseEvent(data);
      if (!ev) return '';
      switch (ev.type) {
        case 'message_start': {
          const message = isObject(ev.message) ? ev.message : {};
          out.id = str(message.id) ?? out.id;
          out.model = str(message.model) ?? out.model;
          usage = isObject(message.usage) ? { ...message.usage } : {};
          return out.delta({ role: 'assistant', content: '' });
        }
        case 'content_block_start': {
          const block = isObject(ev.content_block) ? ev.content_block : {};
          const index = num(ev.index) ?? 0;
          if (block.type === 'tool_use') {
            sawToolUse = true;
            const at = tools.size;
            tools.set(index, at);
            return out.delta({ tool_calls: [{ index: at, id: str(block.id) ?? `call_${at}`, type: 'function', function: { name: str(block.name) ?? '', arguments: '' } }] });
          }
          if (block.type === 'text' && typeof block.text === 'string' && block.text !== '') return out.delta({ content: block.text });
          return '';
        }
        case 'content_block_delta': {
          const delta = isObject(ev.delta) ? ev.delta : {};
          if (delta.type === 'text_delta') return out.delta({ content: str(delta.text) ?? '' });
          if (delta.type === 'thinking_delta') return out.delta({ reasoning_content: str(delta.thinking) ?? '' });
          if (delta.type === 'input_json_delta') {
            const at = tools.get(num(ev.index) ?? -1);
            if (at === undefined) return '';
            return out.delta({ tool_calls: [{ index: at, function: { arguments: str(delta.partial_json) ?? '' } }] });
          }
          return ''; // signature_delta, citations: nothing a chat client reads
        }
        case 'message_delta': {
          const delta = isObject(ev.delta) ? ev.delta : {};
          if (isObject(ev.usage)) usage = { ...usage, ...ev.usage };
          if (delta.stop_reason === undefined || delta.stop_reason === null) return '';
          return out.delta({}, finishReason(delta.stop_reason, sawToolUse));
        }
        case 'message_stop':
          finished = true;
          return out.usage(usageOf(usage)) + out.done();
        case 'error':
          throw streamError(ev);
        default:
          return ''; // ping, content_block_stop, future events
      }
    },
    end() {
      if (!finished) throw new ProxyError(502, 'upstream_stream_error', 'upstream stream ended before message_stop');
      return '';
    },
  };
}
