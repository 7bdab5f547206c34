/**
 * Relays a committed upstream stream to the client chunk by chunk (a write per upstream chunk, no
 * buffering), with backpressure, and makes a broken stream look broken: if the upstream dies
 * mid-stream the client gets a final error event instead of a clean end.
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { createParser } from 'eventsource-parser';
import type { CommittedStream } from '../execute.js';
import { ProxyError } from '../errors.js';
import { describeNetworkError } from '../upstream/faults.js';

/** Re-frames events when the client must see something else than the upstream sent. */
export interface EventMapper {
  /** Wire text for one upstream event's data ('' to drop it). */
  event(data: string): string;
  /** Wire text to send after the upstream ended cleanly. */
  end(): string;
  /**
   * Keep-alive: `text()` is written when nothing was written for a whole `everyMs` period (so
   * within two periods of silence), lest clients and middleboxes drop an idle connection.
   */
  readonly keepAlive?: { readonly everyMs: number; text(): string };
}

export type RelayOutcome = 'complete' | 'client-gone' | 'upstream-error';

/** Sees the upstream's bytes before they are relayed (usage statistics; observe/usage.ts). */
export interface StreamTap {
  /** The bytes to relay for one upstream chunk. */
  chunk(chunk: Buffer): Buffer;
  /** Bytes still held when the upstream ended cleanly. */
  flush(): Buffer | undefined;
  end(outcome: RelayOutcome): void;
}

export interface RelayOptions {
  readonly mapper?: EventMapper;
  /** Wire text of an error event in the client's format. */
  readonly errorEvent: (error: ProxyError) => string;
  readonly tap?: StreamTap;
  /** Keep-alive for streams relayed without a mapper (streaming.keepalive-seconds). */
  readonly keepAlive?: EventMapper['keepAlive'];
}

/** Feeds raw upstream chunks in; `onData` gets each whole event's data (split chunks, CRLF handled). */
export function sseDataReader(onData: (data: string) => void): (chunk: Buffer) => void {
  const parser = createParser({ onEvent: (event) => onData(event.data) });
  const decoder = new TextDecoder();
  return (chunk) => parser.feed(decoder.decode(chunk, { stream: true }));
}

/** Wraps a mapper so that raw upstream chunks are parsed into events first. */
function chunkMapper(mapper: EventMapper): (chunk: Buffer) => string {
  let out = '';
  const read = sseDataReader((data) => (out += mapper.event(data)));
  return (chunk) => {
    out = '';
    read(chunk);
    return out;
  };
}

async function write(res: ServerResponse, data: Buffer | string): Promise<boolean> {
  if (data.length === 0) return !res.destroyed;
  if (res.write(data)) return true;
  if (res.destroyed) return false;
  const [result] = await Promise.race([once(res, 'drain').then(() => [true]), once(res, 'close').then(() => [false])]);
  return result as boolean;
}

/** Returns 'complete', 'client-gone' or 'upstream-error' (after telling the client). */
export async function relayStream(res: ServerResponse, stream: CommittedStream, options: RelayOptions): Promise<RelayOutcome> {
  const outcome = await relay(res, stream, options);
  options.tap?.end(outcome);
  return outcome;
}

async function relay(res: ServerResponse, stream: CommittedStream, options: RelayOptions): Promise<RelayOutcome> {
  const map = options.mapper ? chunkMapper(options.mapper) : undefined;
  const tap = options.tap;
  const onClose = () => {
    if (!res.writableFinished) stream.abort();
  };
  res.once('close', onClose);
  const gone = () => {
    stream.abort();
    return 'client-gone' as const;
  };
  let wrote = false;
  const send = (data: Buffer | string) => {
    if (data.length > 0) wrote = true;
    return write(res, data);
  };
  const keepAlive = options.mapper?.keepAlive ?? options.keepAlive;
  const timer = keepAlive
    ? setInterval(() => {
        if (wrote) wrote = false;
        else if (!res.writableEnded && !res.destroyed) {
          const text = keepAlive.text();
          if (text) res.write(text);
        }
      }, keepAlive.everyMs).unref()
    : undefined;
  try {
    for (const raw of stream.prelude) {
      const chunk = tap ? tap.chunk(raw) : raw;
      if (!(await send(map ? map(chunk) : chunk))) return gone();
    }
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await stream.rest.next();
      } catch (err) {
        if (res.destroyed) return gone();
        // A translated stream says itself why it broke (an error event, a missing end event).
        const error = err instanceof ProxyError ? err : new ProxyError(502, 'upstream_stream_error', `upstream ${stream.target.provider.name} failed mid-stream: ${describeNetworkError(err).reason}`);
        res.end(options.errorEvent(error));
        return 'upstream-error';
      }
      if (next.done) break;
      const chunk = tap ? tap.chunk(next.value) : next.value;
      if (!(await send(map ? map(chunk) : chunk))) return gone();
    }
    const rest = tap?.flush();
    if (rest && !(await send(map ? map(rest) : rest))) return gone();
    res.end(options.mapper ? options.mapper.end() : undefined);
    return 'complete';
  } finally {
    if (timer) clearInterval(timer);
    res.off('close', onClose);
  }
}
