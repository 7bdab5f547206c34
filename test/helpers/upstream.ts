/**
 * Small real HTTP upstreams on loopback for tests: they record what they receive and answer as
 * the test says (JSON, SSE with delays, errors, stalls, resets).
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Recorded {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly json: any;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, recorded: Recorded) => void | Promise<void>;

export interface MockUpstream {
  /** base-url to configure, e.g. http://127.0.0.1:1234/v1 */
  readonly url: string;
  readonly port: number;
  readonly requests: Recorded[];
  /** Swap the handler mid-test. */
  handler: Handler;
  close(): Promise<void>;
}

export async function mockUpstream(handler: Handler): Promise<MockUpstream> {
  const sockets = new Set<Socket>();
  const requests: Recorded[] = [];
  const mock = { handler } as { handler: Handler };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    let json: unknown;
    try {
      json = body ? JSON.parse(body) : undefined;
    } catch {
      json = undefined;
    }
    const recorded: Recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json };
    requests.push(recorded);
    try {
      await mock.handler(req, res, recorded);
    } catch {
      res.destroy();
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(mock, {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function completion(content: string, model = 'upstream-model', extra: Record<string, unknown> = {}) {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: 1700000000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
    ...extra,
  };
}

export function chunk(content: string, model = 'upstream-model', finish: string | null = null) {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion.chunk',
    created: 1700000000,
    model,
    choices: [{ index: 0, delta: content ? { content } : {}, finish_reason: finish }],
  };
}

/** Answers with JSON (status 200 unless given). Echoes the requested model when model is omitted. */
export function json(value: unknown | ((r: Recorded) => unknown), status = 200, headers: Record<string, string> = {}): Handler {
  return (_req, res, recorded) => {
    const body = JSON.stringify(typeof value === 'function' ? (value as (r: Recorded) => unknown)(recorded) : value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };
}

/** Answers a completion naming which upstream answered (handy for spread tests). */
export function named(name: string): Handler {
  return json((r: Recorded) => completion(name, r.json?.model));
}

export function error(status: number, message = `error ${status}`, type = 'server_error', headers: Record<string, string> = {}): Handler {
  return json({ error: { message, type, code: null } }, status, headers);
}

/** SSE: each string of `events` is sent as one `data:` event, `gapMs` apart, then [DONE]. */
export function sse(events: unknown[], opts: { gapMs?: number; done?: boolean; firstDelayMs?: number } = {}): Handler {
  return async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    if (opts.firstDelayMs) await sleep(opts.firstDelayMs);
    for (let i = 0; i < events.length; i++) {
      if (i > 0 && opts.gapMs) await sleep(opts.gapMs);
      if (res.destroyed) return;
      res.write(`data: ${typeof events[i] === 'string' ? events[i] : JSON.stringify(events[i])}\n\n`);
    }
    if (opts.done !== false) res.write('data: [DONE]\n\n');
    res.end();
  };
}

/** Accepts the request and never answers. */
export const stall: Handler = () => new Promise(() => undefined);

/** Destroys the connection without answering. */
export const reset: Handler = (req) => {
  req.socket.destroy();
};
