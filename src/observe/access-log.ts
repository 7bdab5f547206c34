/**
 * The access log: one info line per request (one pino call; pino writes asynchronously), with the
 * path but never the query string (a client key may ride in `?key=`).
 */
import type { Logger } from './logger.js';

export interface AccessEntry {
  readonly method: string | undefined;
  readonly path: string;
  readonly model: string | undefined;
  readonly provider: string | undefined;
  readonly status: number;
  readonly ms: number;
  readonly overheadMs: number;
  readonly requestId: string;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

export function accessLog(log: Logger, e: AccessEntry): void {
  log.info(
    { method: e.method, path: e.path, model: e.model, provider: e.provider, status: e.status, ms: round(e.ms), overheadMs: round(e.overheadMs), requestId: e.requestId },
    'request',
  );
}
