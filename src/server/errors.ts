/**
 * The only place that knows error wire shapes. Every error a client sees is rendered here.
 */
import type { ServerResponse } from 'node:http';
import { ProxyError, UpstreamReply } from '../errors.js';
import { startedWithKeepAlive } from './keepalive.js';

/** OpenAI `error.type` for a status. */
export function openaiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'invalid_request_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'upstream_error';
  return 'invalid_request_error';
}

export function openaiErrorBody(e: ProxyError): { error: { message: string; type: string; code: string; param: string | null } } {
  return { error: { message: e.message, type: e.type ?? openaiErrorType(e.status), code: e.code, param: e.param ?? null } };
}

/** Anthropic `error.type` for a status (https://docs.anthropic.com/en/api/errors). */
export function anthropicErrorType(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** The message of an upstream's own error body (OpenAI or Anthropic shape), if it has one. */
function upstreamMessage(reply: UpstreamReply): string | undefined {
  if (reply.body.length === 0 || reply.body.length > 65_536) return undefined;
  try {
    const parsed = JSON.parse(reply.body.toString('utf8')) as { error?: { message?: unknown } | string; message?: unknown };
    const message = typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? parsed.message);
    return typeof message === 'string' && message !== '' ? message : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `{"type":"error","error":{type,message}}`. An upstream's error answer is re-shaped too (an
 * Anthropic client cannot read OpenAI's), keeping its status and its message.
 */
export function anthropicErrorBody(e: ProxyError): { type: 'error'; error: { type: string; message: string } } {
  const message = e instanceof UpstreamReply ? (upstreamMessage(e) ?? e.message) : e.message;
  return { type: 'error', error: { type: anthropicErrorType(e.status), message } };
}

/** The wire text of an Anthropic stream `error` event (ends a stream that broke mid-way). */
export const anthropicErrorEvent = (e: ProxyError): string => `event: error\ndata: ${JSON.stringify(anthropicErrorBody(e))}\n\n`;

/**
 * The wire text of a Responses `response.failed` event: the response so far, with status failed
 * and `error: {code, message}` (Codex CLI reads `code`: context_length_exceeded, insufficient_quota
 * and rate_limit_exceeded change what it does; anything else it retries).
 */
export function responsesFailedEvent(e: ProxyError, response: object, sequence: number): string {
  const message = e instanceof UpstreamReply ? (upstreamMessage(e) ?? e.message) : e.message;
  const failed = { ...response, status: 'failed', error: { code: e.code, message } };
  return `event: response.failed\ndata: ${JSON.stringify({ type: 'response.failed', sequence_number: sequence, response: failed })}\n\n`;
}

/** google.rpc status name for an HTTP status, as Google's APIs pair them. */
export function geminiStatus(status: number): string {
  switch (status) {
    case 400:
      return 'INVALID_ARGUMENT';
    case 401:
      return 'UNAUTHENTICATED';
    case 403:
      return 'PERMISSION_DENIED';
    case 404:
      return 'NOT_FOUND';
    case 408:
    case 504:
      return 'DEADLINE_EXCEEDED';
    case 409:
      return 'ABORTED';
    case 429:
      return 'RESOURCE_EXHAUSTED';
    case 499:
      return 'CANCELLED';
    case 501:
      return 'UNIMPLEMENTED';
    case 502:
    case 503:
      return 'UNAVAILABLE';
    default:
      return status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT';
  }
}

/**
 * `{"error":{code,message,status}}` (Gemini API). An upstream's error answer is re-shaped too,
 * keeping its status and its message.
 */
export function geminiErrorBody(e: ProxyError): { error: { code: number; message: string; status: string } } {
  const message = e instanceof UpstreamReply ? (upstreamMessage(e) ?? e.message) : e.message;
  return { error: { code: e.status, message, status: geminiStatus(e.status) } };
}

export type ErrorShape = 'openai' | 'anthropic' | 'gemini';

/** Turns anything thrown into a ProxyError without leaking internals. */
export function toProxyError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  return new ProxyError(500, 'internal_error', 'internal error in cliproxy', { type: 'server_error' });
}

/**
 * Sends an error as OpenAI-style JSON (or the upstream's own answer, relayed as is), or in the
 * Anthropic or Gemini shape for those clients.
 */
export function sendError(res: ServerResponse, err: ProxyError, extraHeaders?: Record<string, string>, shape: ErrorShape = 'openai'): void {
  const late = res.headersSent;
  if (late && !startedWithKeepAlive(res)) {
    res.destroy();
    return;
  }
  const headers: Record<string, string | number> = { ...extraHeaders, ...err.headers };
  let body: Buffer | string;
  if (shape === 'anthropic' || shape === 'gemini') {
    body = JSON.stringify(shape === 'anthropic' ? anthropicErrorBody(err) : geminiErrorBody(err));
    headers['content-type'] = 'application/json';
  } else if (err instanceof UpstreamReply) {
    body = err.body;
    headers['content-type'] = err.contentType ?? 'application/json';
  } else {
    body = JSON.stringify(openaiErrorBody(err));
    headers['content-type'] = 'application/json';
  }
  if (late) {
    // Status 200 and newlines already went out (nonstream-keepalive-interval): the error is the body.
    res.end(body);
    return;
  }
  headers['content-length'] = Buffer.byteLength(body);
  res.writeHead(err.status, headers);
  res.end(body);
}
