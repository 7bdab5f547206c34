/**
 * What the native vendors put in their error answers beyond the status: how long a rate limit
 * lasts (Anthropic's anthropic-ratelimit-*-reset headers, Google's RetryInfo detail) and whether a
 * 400 is really about the key (Gemini answers 400 API_KEY_INVALID; Anthropic 400 for an account
 * without credit), so that such a key cools down instead of the request failing.
 */
import type { IncomingHttpHeaders } from 'node:http';

const ANTHROPIC_LIMITS = ['requests', 'tokens', 'input-tokens', 'output-tokens'];

/**
 * https://docs.anthropic.com/en/api/rate-limits#response-headers: each limit has -remaining and
 * -reset (RFC 3339). The wait is until the latest reset of an exhausted limit (any limit if none
 * says 0 remaining).
 */
function anthropicResetMs(headers: IncomingHttpHeaders, now: number): number | undefined {
  let exhausted: number | undefined;
  let any: number | undefined;
  for (const limit of ANTHROPIC_LIMITS) {
    const reset = headers[`anthropic-ratelimit-${limit}-reset`];
    if (typeof reset !== 'string') continue;
    const at = Date.parse(reset);
    if (Number.isNaN(at)) continue;
    const ms = Math.max(0, at - now);
    any = Math.max(any ?? 0, ms);
    if (headers[`anthropic-ratelimit-${limit}-remaining`] === '0') exhausted = Math.max(exhausted ?? 0, ms);
  }
  return exhausted ?? any;
}

/** `"37s"`, `"0.5s"`: a protobuf Duration in JSON. */
function durationMs(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return m ? Math.ceil(Number(m[1]) * 1000) : undefined;
}

interface GoogleError {
  error?: { status?: unknown; message?: unknown; details?: Array<Record<string, unknown>> };
}

function googleError(body: Buffer): GoogleError['error'] | undefined {
  if (body.length === 0 || body.length > 65_536) return undefined;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    // Gemini's REST API answers an object; some gateways wrap it in a one-element array.
    const first = (Array.isArray(parsed) ? parsed[0] : parsed) as GoogleError | undefined;
    return first && typeof first === 'object' && first.error && typeof first.error === 'object' ? first.error : undefined;
  } catch {
    return undefined;
  }
}

/** https://ai.google.dev/gemini-api/docs/rate-limits: a 429 carries google.rpc.RetryInfo. */
function googleRetryDelayMs(body: Buffer): number | undefined {
  const details = googleError(body)?.details;
  if (!Array.isArray(details)) return undefined;
  for (const d of details) {
    if (typeof d['@type'] === 'string' && d['@type'].endsWith('google.rpc.RetryInfo')) return durationMs(d.retryDelay);
  }
  return undefined;
}

/** How long a vendor's 429 asks to wait, when it does not say Retry-After. */
export function vendorRetryDelayMs(headers: IncomingHttpHeaders | undefined, body: Buffer, now = Date.now()): number | undefined {
  return (headers ? anthropicResetMs(headers, now) : undefined) ?? googleRetryDelayMs(body);
}

const KEY_REASONS = new Set(['API_KEY_INVALID', 'API_KEY_EXPIRED', 'API_KEY_SERVICE_BLOCKED', 'CONSUMER_SUSPENDED', 'SERVICE_DISABLED']);

/** A 400/403 body that blames the key or its account, not the request. */
export function isKeyFaultBody(body: Buffer): boolean {
  if (body.length === 0 || body.length > 65_536) return false;
  const error = googleError(body);
  if (error) {
    for (const d of Array.isArray(error.details) ? error.details : []) if (typeof d.reason === 'string' && KEY_REASONS.has(d.reason)) return true;
    // "User location is not supported for the API use": another key (or its proxy) may be elsewhere.
    if (error.status === 'FAILED_PRECONDITION') return true;
  }
  // Anthropic: 400 invalid_request_error "Your credit balance is too low to access the Anthropic API."
  return body.includes('credit balance is too low');
}
