/**
 * The only place that knows error wire shapes. Every error a client sees is rendered here.
 */
import type { ServerResponse } from 'node:http';
import { ProxyError, UpstreamReply } from '../errors.js';

/** OpenAI `error.type` for a status. */
export function openaiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'invalid_request_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'upstream_error';
  return 'invalid_request_error';
}

export function openaiErrorBody(e: ProxyError): { error: { message: string; type: string; code: string; param: null } } {
  return { error: { message: e.message, type: e.type ?? openaiErrorType(e.status), code: e.code, param: null } };
}

/** Turns anything thrown into a ProxyError without leaking internals. */
export function toProxyError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  return new ProxyError(500, 'internal_error', 'internal error in cliproxy', { type: 'server_error' });
}

/** Sends an error as OpenAI-style JSON, or the upstream's own answer when it is relayed as is. */
export function sendError(res: ServerResponse, err: ProxyError, extraHeaders?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string | number> = { ...extraHeaders, ...err.headers };
  let body: Buffer | string;
  if (err instanceof UpstreamReply) {
    body = err.body;
    headers['content-type'] = err.contentType ?? 'application/json';
  } else {
    body = JSON.stringify(openaiErrorBody(err));
    headers['content-type'] = 'application/json';
  }
  headers['content-length'] = Buffer.byteLength(body);
  res.writeHead(err.status, headers);
  res.end(body);
}
