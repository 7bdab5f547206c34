/**
 * The access log: one info line per request, with the path but never the query string (a client
 * key may ride in `?key=`). The line is the one pino would write for
 * `log.info({method, path, ...}, 'request')`, built by hand and handed to the logger's own
 * destination: pino's generic serialisation of the object (key loop, redaction check, stringify
 * per value) was most of the access log's 4.7 % of a saturated proxy's CPU profile (bench/README.md, change log).
 */
import { pino } from 'pino';
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

const { streamSym, timeSym, chindingsSym } = pino.symbols;

type PinoInternals = Record<symbol, unknown>;

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/** `,"name":"value"`, or nothing when the value is absent (as JSON.stringify drops undefined). */
const field = (name: string, value: string | undefined) => (value === undefined ? '' : `,"${name}":${JSON.stringify(value)}`);

export function accessLog(log: Logger, e: AccessEntry): void {
  if (!log.isLevelEnabled('info')) return;
  const p = log as unknown as PinoInternals;
  const time = (p[timeSym] as () => string)();
  // Same field order as pino: level, time, bindings, the object's fields, msg.
  const line =
    `{"level":30${time}${p[chindingsSym] as string}${field('method', e.method)},"path":${JSON.stringify(e.path)}` +
    `${field('model', e.model)}${field('provider', e.provider)},"status":${e.status},"ms":${round(e.ms)},` +
    `"overheadMs":${round(e.overheadMs)},"requestId":${JSON.stringify(e.requestId)},"msg":"request"}\n`;
  (p[streamSym] as { write(line: string): void }).write(line);
}
