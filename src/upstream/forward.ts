/**
 * Sends one upstream request: base-url + path, the target's prebuilt headers (provider headers,
 * the upstream key), the body with `model` already renamed. undici's `request` on a pooled
 * dispatcher: no fetch on the hot path. Nothing from the client's own headers is forwarded, except
 * where a provider's `headers` asks for a copy (`X-Session: "$X-Claude-Code-Session-Id"`).
 */
import type { Dispatcher } from 'undici';
import type { Credential, Target } from '../routing/registry.js';

export interface ForwardOptions {
  readonly dispatcher: Dispatcher;
  readonly target: Target;
  readonly credential: Credential;
  /** Path below base-url, e.g. `/chat/completions`. */
  readonly path: string;
  readonly body: string | Buffer;
  /** Request-specific headers on top of the credential's (a native client's beta headers). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly stream: boolean;
  /** The client's headers, for `headers` values written `$Name`. */
  readonly clientHeaders?: import('node:http').IncomingHttpHeaders;
  /** Aborts the request when it emits 'abort' (an AbortSignal or a cheaper EventEmitter). */
  readonly signal: AbortSignal | import('node:events').EventEmitter;
  /** Until the response headers. */
  readonly firstByteMs: number;
  /** Between two body chunks. */
  readonly idleMs: number;
}

export type UpstreamResponse = Dispatcher.ResponseData;

export function forward(o: ForwardOptions): Promise<UpstreamResponse> {
  let headers: Record<string, string> = o.stream ? { ...o.credential.headers, accept: 'text/event-stream' } : (o.credential.headers as Record<string, string>);
  if (o.headers) headers = withRequestHeaders(headers, o.headers);
  const copied = o.credential.copiedHeaders;
  if (copied && copied.length > 0 && o.clientHeaders) {
    if (headers === o.credential.headers) headers = { ...headers };
    for (const [name, from] of copied) {
      const value = o.clientHeaders[from];
      if (typeof value === 'string' && value !== '') headers[name] = value;
      else if (Array.isArray(value) && value.length > 0) headers[name] = value.join(', ');
    }
  }
  return o.dispatcher.request({
    origin: o.target.provider.origin,
    path: o.target.provider.basePath + o.path,
    method: 'POST',
    headers,
    body: o.body,
    signal: o.signal,
    headersTimeout: o.firstByteMs,
    bodyTimeout: o.idleMs,
  });
}

/** The client's betas are added to any the operator configured; other request headers replace defaults. */
function withRequestHeaders(base: Readonly<Record<string, string>>, extra: Readonly<Record<string, string>>): Record<string, string> {
  const out = { ...base };
  for (const [name, value] of Object.entries(extra)) out[name] = name === 'anthropic-beta' && out[name] ? `${out[name]},${value}` : value;
  return out;
}

/** Reads at most `limit` bytes of a body, then discards the rest (an unread body holds its socket). */
export async function readBody(body: UpstreamResponse['body'], limit = Infinity): Promise<Buffer> {
  // Unbounded: undici's own collector is cheaper than an async iterator per answer.
  if (limit === Infinity) return Buffer.from(await body.arrayBuffer());
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - size));
      size = limit;
      body.destroy();
      break;
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}
