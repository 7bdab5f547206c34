/**
 * The gateway's ServerResponse (passed to `createServer({ ServerResponse })`): it stamps
 * `x-cliproxy-overhead-ms` on every answer at the moment its headers go out, whoever writes them
 * (handlers, the error renderer, management, OPTIONS), without a closure per request.
 */
import { ServerResponse, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';
import type { RequestContext } from '../server/context.js';

/** Per-request timing; execute.ts adds to `upstreamMs` and `attempts` (see AttemptSink there). */
export interface Timing {
  /** performance.now() at arrival. */
  readonly started: number;
  /** Time spent waiting on upstreams: attempts up to their answer (or first stream event), and retry waits. */
  upstreamMs: number;
  /** Upstream attempts made. */
  attempts: number;
  /** performance.now() when the response headers went out; 0 until then. */
  committedAt: number;
  /** The gateway's own time up to `committedAt`: elapsed minus upstream wait. */
  overheadMs: number;
  /** The latest attempt's provider and credential index (usage records of failed requests name them). */
  lastProvider: string | undefined;
  lastCredential: number | undefined;
  /** Set only while a request log is being written (request-log: true). */
  onAttempt?: (provider: string, model: string, credential: number, key: string | undefined, outcome: number | string, ms: number) => void;
}

export const OVERHEAD_HEADER = 'x-cliproxy-overhead-ms';

export function newTiming(started: number): Timing {
  return { started, upstreamMs: 0, attempts: 0, committedAt: 0, overheadMs: 0, lastProvider: undefined, lastCredential: undefined, onAttempt: undefined };
}

/** Stamps the commit time and overhead; returns the header value. */
export function commit(t: Timing): string {
  const now = performance.now();
  t.committedAt = now;
  t.overheadMs = Math.max(0, now - t.started - t.upstreamMs);
  return t.overheadMs.toFixed(3);
}

export class ObservedResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  /** The request this answers, set by the observer when the request arrives. */
  ctx: RequestContext | undefined = undefined;

  override writeHead(statusCode: number, statusMessage?: string, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, a?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], b?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this {
    const ctx = this.ctx;
    if (ctx !== undefined && ctx.timing.committedAt === 0) {
      const value = commit(ctx.timing);
      const headers = typeof a === 'string' ? b : a;
      // Every caller passes a header object built for this answer (it holds the request id), so
      // adding to it is safe and cheaper than setHeader, which sends Node down its merging path.
      if (headers !== undefined && !Array.isArray(headers)) headers[OVERHEAD_HEADER] = value;
      else this.setHeader(OVERHEAD_HEADER, value);
      ctx.requestLog?.head(statusCode, headers !== undefined && !Array.isArray(headers) ? headers : this.getHeaders());
    }
    return typeof a === 'string' ? super.writeHead(statusCode, a, b) : super.writeHead(statusCode, a);
  }
}
