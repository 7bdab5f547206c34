/**
 * Gemini streamGenerateContent?alt=sse → chat completion chunks. Every event is a whole
 * GenerateContentResponse holding the next parts; the one with a finishReason ends the answer and
 * the last usageMetadata is the request's usage. Gemini has no end event: the stream is complete
 * when it closes after a finishReason.
 */
import { ProxyError } from '../../errors.js';
import { ChunkWriter, isObject, parseEvent, str, type ChatStreamAdapter } from '../chat/upstream-common.js';
import { finishReason, readParts, usageOf } from './upstream-response.js';

export function geminiStreamToChat(model: string): ChatStreamAdapter {
  const out = new ChunkWriter('gemini', model);
  let started = false;
  let calls = 0;
  let finish: string | undefined;
  let usage: Record<string, unknown> | undefined;
  return {
    event(_name, data) {
      const ev = parseEvent(data);
      if (!ev) return '';
      if (isObject(ev.error)) {
        throw new ProxyError(502, 'upstream_stream_error', `upstream stream failed: ${str(ev.error.message) ?? str(ev.error.status) ?? 'error'}`);
      }
      let text = '';
      if (!started) {
        started = true;
        out.id = str(ev.responseId) ?? out.id;
        out.model = str(ev.modelVersion) ?? out.model;
        text += out.delta({ role: 'assistant', content: '' });
      }
      const parts = readParts(ev, calls);
      if (parts.reasoning) text += out.delta({ reasoning_content: parts.reasoning });
      if (parts.text) text += out.delta({ content: parts.text });
      if (parts.calls.length > 0) {
        const toolCalls = parts.calls.map((c, i) => ({ index: calls + i, id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
        calls += parts.calls.length;
        text += out.delta({ tool_calls: toolCalls });
      }
      usage = usageOf(ev.usageMetadata) ?? usage;
      if (parts.finish && !finish) {
        finish = finishReason(parts.finish, calls > 0);
        text += out.delta({}, finish);
      }
      return text;
    },
    end() {
      if (!finish) throw new ProxyError(502, 'upstream_stream_error', 'upstream stream ended without a finishReason');
      return (usage ? out.usage(usage) : '') + out.done();
    },
  };
}
