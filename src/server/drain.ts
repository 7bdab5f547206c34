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
 * One per server: `createServer(options, drain.track(listener))`, then `drain.drain(server, capMs)`;
 * the gateway does this for its listener, a cluster worker does the same for its own.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface Drain {
  /** True once drain() was called. */
  readonly draining: boolean;
  /** The server's request listener, wrapped to know the answers in flight. */
  track(listener: RequestListener): RequestListener;
  /** Drains `server` as above; resolves when every connection is closed (at most `capMs` later). */
  drain(server: Server, capMs: number): Promise<void>;
}

export function createDrain(): Drain {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  let drained: Promise<void> | undefined;
  let closeIdle = () => {};

  return {
    get draining() {
      return draining;
    },
    track(listener) {
      return (req, res) => {
        inFlight.add(res);
        // Before the handler runs, so that it is in the answer's headers.
        if (draining) res.setHeader('connection', 'close');
        res.once('close', () => {
          inFlight.delete(res);
          // Node closes a `Connection: close` socket itself; one whose keep-alive answer started
          // before the drain would otherwise linger until the keep-alive timeout.
          if (draining) setImmediate(closeIdle);
        });
        listener(req, res);
      };
    },
    drain(server, capMs) {
      drained ??= new Promise<void>((resolve) => {
        draining = true;
        // Connections with no request in progress: idle keep-alive ones, and those whose last answer just ended.
        closeIdle = () => server.closeIdleConnections();
        server.close(() => resolve());
        for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
        closeIdle();
        const cap = setTimeout(() => server.closeAllConnections(), capMs);
        cap.unref();
        server.once('close', () => clearTimeout(cap));
      });
      return drained;
    },
  };
}
