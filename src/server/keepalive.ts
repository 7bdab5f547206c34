/**
 * Keep-alives for slow answers, as CLI Proxy API's `streaming.keepalive-seconds` and
 * `nonstream-keepalive-interval` do: an SSE comment frame during a stream's silence, and newlines
 * ahead of a slow non-stream JSON body (JSON parsers skip leading whitespace, RFC 8259 §2), so
 * that idle timeouts of clients and reverse proxies do not cut a long answer.
 */
import type { ServerResponse } from 'node:http';
import type { Config } from '../config/schema.js';
import type { RequestContext } from './context.js';

/** The relay's keep-alive for SSE streams, or undefined when `streaming.keepalive-seconds` is off. */
export function streamKeepAlive(config: Config): { readonly everyMs: number; text(): string } | undefined {
  const seconds = config.streaming?.['keepalive-seconds'] ?? 0;
  return seconds > 0 ? { everyMs: seconds * 1000, text: () => ': keep-alive\n\n' } : undefined;
}

/** Responses whose status went out early with newlines: an error is written as a JSON body. */
const committedEarly = new WeakSet<ServerResponse>();

/** True when a late error must be written into the body of an already started JSON answer. */
export const startedWithKeepAlive = (res: ServerResponse): boolean => committedEarly.has(res);

/**
 * Starts writing newlines every `nonstream-keepalive-interval` seconds while a non-stream answer
 * is awaited; the first one sends status 200 and the JSON content type. Returns a stop function
 * (call it before the answer is written), or undefined when the setting is off.
 */
export function startNonStreamKeepAlive(ctx: RequestContext): (() => boolean) | undefined {
  const seconds = ctx.snap.config['nonstream-keepalive-interval'] ?? 0;
  if (seconds <= 0) return undefined;
  const res = ctx.res;
  const timer = setInterval(() => {
    if (res.destroyed || res.writableEnded) return;
    if (!res.headersSent) {
      res.writeHead(200, { ...ctx.headers, 'content-type': 'application/json', 'cache-control': 'no-cache' });
      committedEarly.add(res);
    }
    res.write('\n');
  }, seconds * 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    return res.headersSent;
  };
}
