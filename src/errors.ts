/**
 * One error hierarchy for everything a client can be told. Wire shapes (OpenAI, Anthropic) are
 * rendered at the edge, in server/errors.ts; nothing else formats errors.
 */

/** An error with the HTTP status and stable code a client sees. */
export class ProxyError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: ErrorOptions & { headers?: Record<string, string>; type?: string; param?: string },
  ) {
    super(message, options);
    this.name = 'ProxyError';
    this.headers = options?.headers;
    this.type = options?.type;
    this.param = options?.param;
  }
  /** Extra response headers, e.g. Retry-After. */
  readonly headers?: Record<string, string>;
  /** Overrides the error type derived from the status. */
  readonly type?: string;
  /** The request field at fault (OpenAI's `error.param`). */
  readonly param?: string;
  /** Upstream attempts made before this error was decided (x-cliproxy-attempts). */
  attempts?: number;
  /** The provider and credential index of the last attempt (x-cliproxy-provider, x-cliproxy-credential). */
  lastTried?: { readonly provider: string; readonly credential: number };
}

/**
 * A final upstream error answer that is relayed to the client as the upstream sent it
 * (status and body unchanged).
 */
export class UpstreamReply extends ProxyError {
  constructor(
    status: number,
    readonly body: Buffer,
    readonly contentType: string | undefined,
    headers?: Record<string, string>,
  ) {
    super(status, 'upstream_error', `upstream answered ${status}`, { headers });
    this.name = 'UpstreamReply';
  }
}

export const badRequest = (message: string, code = 'invalid_request') => new ProxyError(400, code, message);

/** Thrown when the client went away: nothing more to send. */
export class ClientGone extends Error {
  constructor() {
    super('client closed the connection');
    this.name = 'ClientGone';
  }
}
