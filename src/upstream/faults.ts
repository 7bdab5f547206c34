/**
 * Classifies a failed upstream attempt: a request fault goes back to the client at once, a key
 * fault cools the credential down and lets the attempt loop move on. Network errors are told
 * apart by undici's stable codes, never by message text.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { KeyFault } from '../routing/balancer.js';
import { isKeyFaultBody, vendorRetryDelayMs } from './vendor-faults.js';
import type { Provider, ScopedErrorRule } from '../routing/registry.js';

export interface Classified {
  /** Set when the failure is the credential's or upstream's, not the request's: it cools the credential. */
  readonly fault?: KeyFault;
  /** True when later retry rounds may help (408, 429, 5xx, network). */
  readonly retryable: boolean;
  /**
   * A request-scoped-errors rule decided: `stop` answers the client now, `continue` tries the next
   * candidate; whether the credential cools down is `fault`. Unset: a fault moves on, no fault stops.
   */
  readonly action?: 'stop' | 'continue';
}

/** The first of a provider's request-scoped-errors rules that matches status and body. */
export function matchScopedError(rules: readonly ScopedErrorRule[], status: number, body: Buffer): ScopedErrorRule | undefined {
  let text: string | undefined;
  for (const rule of rules) {
    if (rule.status !== status) continue;
    text ??= body.toString('utf8');
    if (rule.match.some((m) => text!.includes(m)) || rule.patterns.some((re) => re.test(text!))) return rule;
  }
  return undefined;
}

/** An upstream HTTP error classified by the provider's own rules first, then the built-in ones. */
export function classifyUpstream(provider: Provider, status: number, body: Buffer, retryAfter?: string | string[], headers?: IncomingHttpHeaders): Classified {
  const builtin = classifyStatus(status, body, retryAfter, headers);
  const rules = provider.scopedErrors;
  const rule = rules && rules.length > 0 ? matchScopedError(rules, status, body) : undefined;
  if (!rule) return builtin;
  const cool = rule.action === 'stop-and-cooldown' || rule.action === 'continue-and-cooldown';
  const fault: KeyFault | undefined = cool ? (builtin.fault ?? { kind: 'transient' }) : undefined;
  const action = rule.action.startsWith('stop') ? 'stop' : 'continue';
  return { fault, retryable: action === 'continue' && builtin.retryable, action };
}

const REQUEST_FAULT_STATUSES = new Set([400, 409, 413, 422]);
const REQUEST_FAULT_TYPES = new Set(['invalid_request_error', 'context_length_exceeded']);

/** Seconds or an HTTP date (RFC 9110 §10.2.3) → milliseconds from now. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** `error.type` / `error.code` of an OpenAI-style error body, if it is one. */
function errorKinds(body: Buffer): string[] {
  if (body.length === 0 || body.length > 65_536) return [];
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: { type?: unknown; code?: unknown } };
    const e = parsed?.error;
    if (!e || typeof e !== 'object') return [];
    return [e.type, e.code].filter((v): v is string => typeof v === 'string');
  } catch {
    return [];
  }
}

/**
 * Classifies an upstream HTTP error answer. `headers` (all of them) let vendor rate-limit headers
 * and bodies say how long to wait: Retry-After first, then anthropic-ratelimit-*-reset, then
 * Google's RetryInfo.retryDelay.
 */
export function classifyStatus(status: number, body: Buffer, retryAfter?: string | string[], headers?: IncomingHttpHeaders): Classified {
  // Some vendors answer 400 for a bad or unfunded key (Gemini's API_KEY_INVALID, Anthropic's credit balance).
  if ((status === 400 || status === 403) && isKeyFaultBody(body)) return { fault: { kind: 'auth' }, retryable: false };
  if (REQUEST_FAULT_STATUSES.has(status)) return { retryable: false };
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(retryAfter ?? headers?.['retry-after']) ?? vendorRetryDelayMs(headers, body);
    return { fault: { kind: 'rate-limit', retryAfterMs }, retryable: true };
  }
  if (status === 401 || status === 402 || status === 403) return { fault: { kind: 'auth' }, retryable: false };
  if (status === 404) return { fault: { kind: 'not-found' }, retryable: false };
  // A 5xx that says the request itself is at fault (e.g. context too long) is not worth another key.
  if (errorKinds(body).some((k) => REQUEST_FAULT_TYPES.has(k))) return { retryable: false };
  if (status === 408 || status >= 500) return { fault: { kind: 'transient' }, retryable: true };
  return { retryable: false };
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** Describes a network failure without leaking anything but the error code. */
export function describeNetworkError(err: unknown): { timeout: boolean; reason: string } {
  const e = err as { code?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code;
  const timeout = code !== undefined && TIMEOUT_CODES.has(code);
  const reason =
    code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connect timeout'
    : code === 'UND_ERR_HEADERS_TIMEOUT' ? 'no response headers in time (first-byte timeout)'
    : code === 'UND_ERR_BODY_TIMEOUT' ? 'body stalled (idle timeout)'
    : code === 'ECONNREFUSED' ? 'connection refused'
    : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' ? 'connection reset'
    : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'host not found'
    : code ? `network error ${code}`
    : 'network error';
  return { timeout, reason };
}
