/**
 * Requests node's HTTP parser rejects before any handler runs (malformed request line or headers,
 * a header flood, headers that took too long) are answered on the raw socket, since there is no
 * ServerResponse yet, but in the same JSON shape and with a request id like every other error.
 */
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observe/logger.js';
import { ProxyError } from '../errors.js';
import { openaiErrorBody } from './errors.js';

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Content Too Large', 431: 'Request Header Fields Too Large' };

/** The status and error a parser failure is reported as. */
function classify(err: NodeJS.ErrnoException): ProxyError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new ProxyError(431, 'headers_too_large', 'the request headers are too large');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new ProxyError(413, 'request_too_large', 'the chunk extensions of the request body are too large');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ProxyError(408, 'request_timeout', 'the request headers were not received in time');
    default:
      return new ProxyError(400, 'malformed_request', `malformed HTTP request${err.code?.startsWith('HPE_') ? ` (${err.code})` : ''}`);
  }
}

/** A `clientError` listener for the HTTP server. */
export function answerClientError(log: Logger): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  return (err, socket) => {
    // As node's own default: no answer on a dead socket or after a response started on it.
    const busy = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || busy?.headersSent) return void socket.destroy();
    const error = classify(err);
    const requestId = randomUUID();
    const body = JSON.stringify(openaiErrorBody(error));
    log.debug({ requestId, status: error.status, code: err.code }, 'malformed request rejected by the HTTP parser');
    socket.end(
      `HTTP/1.1 ${error.status} ${REASONS[error.status] ?? 'Error'}\r\n` +
        `content-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${requestId}\r\n` +
        `access-control-allow-origin: *\r\n` +
        `connection: close\r\n\r\n${body}`,
    );
  };
}
