/**
 * Graceful drain of an HTTP server (SIGTERM, SIGINT, a cluster worker told to stop). Without it,
 * `server.close()` waits for every keep-alive connection a client holds open (up to the 65 s
 * keep-alive timeout), so shutdown takes as long as the drain cap instead of the last request.
 *
 * During a drain:
 * - the listener is closed: new connections are refused;
 * - idle keep-alive connections are closed at once;
 * - every answer whose headers are still to be sent carries `Connection: close`, so node ends the
 *   connection after it and the client knows not to reuse it;
 * - a connection whose answer had already started (a stream) is closed as soon as that answer ends;
 * - the drain resolves when the last connection is gone, or at the cap, when the rest are cut.
 *
 * One per server: the gateway drains its listener; a cluster worker calls the same for its own.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export interface Drainable {
  /** True once drain() was called. */
  readonly draining: boolean;
  /** Drains as above; resolves when every connection is closed (at most `capMs` later). */
  drain(capMs: number): Promise<void>;
}

export function drainable(server: Server): Drainable {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  let drained: Promise<void> | undefined;

  const closeIfIdle = () => {
    // Connections with no request in progress (the answer that just ended was their last).
    server.closeIdleConnections();
  };

  // First listener, so that the header is set before a handler can write its answer.
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res);
    if (draining) res.setHeader('connection', 'close');
    res.once('close', () => {
      inFlight.delete(res);
      // Node closes a `Connection: close` socket itself; one whose keep-alive answer started
      // before the drain would otherwise linger until the keep-alive timeout.
      if (draining) setImmediate(closeIfIdle);
    });
  });

  return {
    get draining() {
      return draining;
    },
    drain(capMs) {
      drained ??= new Promise<void>((resolve) => {
        draining = true;
        server.close(() => resolve());
        for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
        closeIfIdle();
        const cap = setTimeout(() => server.closeAllConnections(), capMs);
        cap.unref();
        server.once('close', () => clearTimeout(cap));
      });
      return drained;
    },
  };
}
