/**
 * The attempt loop every endpoint uses: pick a candidate (pool member + credential), send, and on
 * a failure before anything reached the client, classify, cool down and try the next one. A
 * response is committed when its headers go to the client: for non-stream answers once the whole
 * body is in, for streams at the first data event. After that point nothing is retried.
 */
import { createParser } from 'eventsource-parser';
import { ClientGone, ProxyError, UpstreamReply } from './errors.js';
import type { Snapshot } from './config/store.js';
import type { Candidate } from './routing/balancer.js';
import type { Credential, Pool, Target } from './routing/registry.js';
import type { Runtime } from './runtime.js';
import type { ClientSignal } from './server/context.js';
import { classifyUpstream, describeNetworkError, type Classified } from './upstream/faults.js';
import { forward, readBody, type UpstreamResponse } from './upstream/forward.js';
import { maskSecret } from './observe/logger.js';
import { probeEvent } from './upstream/conversion.js';
import { canServe, committedAsChat, routeFor, type NativePlan, type Route } from './upstream/route.js';
import { shapeBody, type RequestFacts } from './routing/shape.js';

export interface ExecutePlan {
  readonly pool: Pool;
  /** Path below base-url, e.g. `/chat/completions`. */
  readonly path: string;
  readonly stream: boolean;
  /** The upstream body for a target (model renamed); called once per attempt. */
  readonly body: (target: Target) => string | Buffer;
  /** Aborted when the client goes away. */
  readonly signal: ClientSignal;
  /** Session id for affinity; set by handlers only when routing.session-affinity is on. */
  readonly sessionKey?: string;
  /** Where upstream wait and attempts are added up (the request's timing, for metrics and the overhead header). */
  readonly timing?: AttemptSink;
  /**
   * The client's own request, for upstreams that speak the client's API (Claude Code → a
   * claude-api-key upstream): sent as is but for `model`, and the answer relayed as is.
   */
  readonly native?: NativePlan;
  /** The chat request `body` serialises, if the caller has it parsed (saves a parse per translated attempt). */
  readonly chat?: Record<string, unknown>;
  /** The client's model, API and headers: payload rules, thinking suffix, `$` headers. */
  readonly request?: RequestFacts;
}

/** Time waiting on upstreams, so that the gateway's own time (overhead) can be told apart. */
export interface AttemptSink {
  upstreamMs: number;
  attempts: number;
  /** The provider and credential index of the latest attempt (usage records name them for failed requests too). */
  lastProvider?: string;
  lastCredential?: number;
  /** Called per attempt only when set (request logs). */
  onAttempt?: (provider: string, model: string, credential: number, key: string | undefined, outcome: number | string, ms: number) => void;
}

interface CommittedBase {
  readonly status: number;
  readonly headers: UpstreamResponse['headers'];
  readonly target: Target;
  readonly credential: Credential;
  readonly attempts: number;
  /** True when this is the upstream's answer in `plan.native.format`, not chat. */
  readonly native?: boolean;
}

/** A complete non-stream answer. */
export interface CommittedBody extends CommittedBase {
  readonly kind: 'body';
  readonly body: Buffer;
}

/** A stream whose first data event has arrived: `prelude` holds the chunks read so far. */
export interface CommittedStream extends CommittedBase {
  readonly kind: 'stream';
  readonly prelude: readonly Buffer[];
  readonly rest: AsyncIterator<Buffer>;
  /** Closes the upstream body (client gone). */
  readonly abort: () => void;
}

export type Committed = CommittedBody | CommittedStream;


type AttemptResult =
  | { readonly ok: true; readonly committed: Committed }
  | { readonly ok: false; readonly error: ProxyError; readonly classified: Classified };

const ERROR_BODY_LIMIT = 256 * 1024;
const RELAYED_ERROR_HEADERS = [
  'retry-after', 'x-request-id', 'x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens',
  'request-id', 'anthropic-ratelimit-requests-reset', 'anthropic-ratelimit-tokens-reset',
];

function relayedHeaders(headers: UpstreamResponse['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of RELAYED_ERROR_HEADERS) {
    const v = headers[name];
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}

function isEventStream(headers: UpstreamResponse['headers']): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && type.includes('text/event-stream');
}

function isJson(headers: UpstreamResponse['headers']): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && type.includes('json');
}

const transientFailure = (status: number, code: string, message: string): AttemptResult => ({
  ok: false,
  error: new ProxyError(status, code, message),
  classified: { fault: { kind: 'transient' }, retryable: true },
});

/**
 * Reads a stream up to its first meaningful event (past Anthropic's message_start and Responses'
 * response.created); fails like an HTTP error if that event is an error.
 */
async function bootstrapStream(response: UpstreamResponse, base: Omit<CommittedBase, 'status' | 'headers'>, providerName: string): Promise<AttemptResult> {
  const iterator = (response.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const format = base.target.provider.format;
  const prelude: Buffer[] = [];
  let verdict: ReturnType<typeof probeEvent> = 'wait';
  const parser = createParser({
    onEvent: (event) => {
      if (verdict === 'wait' && event.data !== '') verdict = probeEvent(format, event.data);
    },
  });
  const decoder = new TextDecoder();
  while (verdict === 'wait') {
    const next = await iterator.next();
    if (next.done) return transientFailure(502, 'upstream_empty_stream', `upstream ${providerName} ended the stream before its first event`);
    prelude.push(next.value);
    parser.feed(decoder.decode(next.value, { stream: true }));
  }
  if (verdict !== 'commit') {
    // Some providers answer 200 and put the error in the first event.
    response.body.destroy();
    const { status, body } = verdict as { status: number; body: Buffer };
    return { ok: false, error: new UpstreamReply(status, body, 'application/json'), classified: classifyUpstream(base.target.provider, status, body) };
  }
  return {
    ok: true,
    committed: {
      target: base.target,
      credential: base.credential,
      attempts: base.attempts,
      native: base.native,
      kind: 'stream',
      status: response.statusCode,
      headers: response.headers,
      prelude,
      rest: iterator,
      abort: () => response.body.destroy(),
    },
  };
}

async function attempt(rt: Runtime, snap: Snapshot, plan: ExecutePlan, cand: Candidate, attempts: number): Promise<AttemptResult> {
  const { target, credential } = cand;
  const route: Route = routeFor(plan, target, (body, path, payload) => shapeBody(snap, target, path, body, plan.request, payload));
  const requestBody = route.body;
  const started = performance.now(); // upstream wait starts here (building the body is our own time)
  const providerName = target.provider.name;
  let response: UpstreamResponse;
  try {
    response = await forward({
      dispatcher: rt.dispatchers.get(credential.proxyUrl, snap.timeoutsMs.connect),
      target,
      credential,
      path: route.path,
      headers: route.headers,
      body: requestBody,
      stream: plan.stream,
      clientHeaders: plan.request?.headers,
      signal: plan.signal,
      firstByteMs: snap.timeoutsMs.firstByte,
      idleMs: snap.timeoutsMs.idle,
    });
  } catch (err) {
    if (plan.signal.aborted) throw new ClientGone();
    const { timeout, reason } = describeNetworkError(err);
    endAttempt(rt, plan, cand, reason, started);
    return transientFailure(timeout ? 504 : 502, timeout ? 'upstream_timeout' : 'upstream_unreachable', `upstream ${providerName}: ${reason}`);
  }
  const base = { target, credential, attempts, native: route.native };
  try {
    const status = response.statusCode;
    if (status >= 400) {
      const body = await readBody(response.body, ERROR_BODY_LIMIT);
      endAttempt(rt, plan, cand, status, started);
      const contentType = response.headers['content-type'];
      const reply = new UpstreamReply(status, body, typeof contentType === 'string' ? contentType : undefined, relayedHeaders(response.headers));
      return { ok: false, error: reply, classified: classifyUpstream(target.provider, status, body, response.headers['retry-after'], response.headers) };
    }
    if (plan.stream && isEventStream(response.headers)) {
      const result = await bootstrapStream(response, base, providerName);
      endAttempt(rt, plan, cand, result.ok ? status : result.error.status, started);
      return result.ok && route.convert ? { ok: true, committed: committedAsChat(route.convert, result.committed, target) } : result;
    }
    const body = await readBody(response.body);
    endAttempt(rt, plan, cand, status, started);
    if (isJson(response.headers) && !isCompleteJson(body)) {
      return transientFailure(502, 'upstream_invalid_response', `upstream ${providerName} returned an incomplete or invalid JSON body (${body.length} bytes)`);
    }
    // Fields written out, not `{ ...base }`: the spread cost a fifth of cliproxy's CPU per request
    // (bench/README.md change log, #5).
    const committed: CommittedBody = { target, credential, attempts, native: route.native, kind: 'body', status, headers: response.headers, body };
    return { ok: true, committed: route.convert ? committedAsChat(route.convert, committed, target) : committed };
  } catch (err) {
    response.body.destroy();
    if (plan.signal.aborted) throw new ClientGone();
    const { timeout, reason } = describeNetworkError(err);
    endAttempt(rt, plan, cand, reason, started);
    return transientFailure(timeout ? 504 : 502, timeout ? 'upstream_timeout' : 'upstream_error', `upstream ${providerName}: ${reason} while reading the response`);
  }
}

/**
 * A JSON document that was cut short does not end with its closing bracket. undici already fails
 * a body shorter than its Content-Length; this catches a chunked body that ended early, without
 * parsing every answer on the hot path.
 */
function isCompleteJson(body: Buffer): boolean {
  let end = body.length - 1;
  while (end >= 0 && (body[end] === 0x20 || body[end] === 0x0a || body[end] === 0x0d || body[end] === 0x09)) end--;
  let start = 0;
  while (start < end && (body[start] === 0x20 || body[start] === 0x0a || body[start] === 0x0d || body[start] === 0x09 || body[start] === 0xef || body[start] === 0xbb || body[start] === 0xbf)) start++;
  return end > start && ((body[start] === 0x7b && body[end] === 0x7d) || (body[start] === 0x5b && body[end] === 0x5d));
}

/** Waits `ms`, or rejects as soon as the client goes away. */
function sleepUnlessAborted(ms: number, signal: ClientSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new ClientGone());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ClientGone());
    };
    const timer = setTimeout(() => {
      signal.off('abort', onAbort);
      resolve();
    }, ms);
    signal.once('abort', onAbort);
  });
}

/** Called where waiting on the upstream ends: adds the wait to the request's timing, logs in debug. */
function endAttempt(rt: Runtime, plan: ExecutePlan, cand: Candidate, outcome: number | string, started: number): void {
  const ms = performance.now() - started;
  const timing = plan.timing;
  if (timing) {
    timing.upstreamMs += ms;
    timing.attempts++;
    timing.lastProvider = cand.target.provider.name;
    timing.lastCredential = cand.credential.index;
    timing.onAttempt?.(cand.target.provider.name, cand.target.upstreamModel, cand.credential.index, cand.credential.apiKey, outcome, ms);
  }
  if (!rt.log.isLevelEnabled('debug')) return;
  rt.log.debug(
    {
      provider: cand.target.provider.name,
      model: cand.target.upstreamModel,
      credential: cand.credential.id,
      key: maskSecret(cand.credential.apiKey),
      outcome,
      ms: Math.round(ms),
    },
    'upstream attempt',
  );
}

function cooldownError(pool: Pool, releaseAt: number, now: number): ProxyError {
  const seconds = Math.max(1, Math.ceil((releaseAt - now) / 1000));
  return new ProxyError(429, 'model_cooldown', `all credentials for model ${pool.id} are cooling down; retry after ${seconds}s`, {
    headers: { 'retry-after': String(seconds) },
    type: 'rate_limit_error',
  });
}

/**
 * Runs the attempt loop. Resolves with a committed response, or rejects with the ProxyError to
 * show the client (the last upstream error as it was sent, or a gateway error).
 */
export async function execute(rt: Runtime, snap: Snapshot, plan: ExecutePlan): Promise<Committed> {
  // streaming.bootstrap-retries: a stream that failed before its first byte is run again whole.
  const retries = plan.stream ? Math.max(0, snap.config.streaming?.['bootstrap-retries'] ?? 0) : 0;
  let attempts = 0;
  for (let run = 0; ; run++) {
    try {
      return await executeRounds(rt, snap, plan, attempts);
    } catch (err) {
      if (run >= retries || !(err instanceof ProxyError) || err instanceof ClientGone || !bootstrapEligible(err.status)) throw err;
      attempts = err.attempts ?? attempts;
      rt.log.debug({ pool: plan.pool.id, status: err.status, retry: run + 1 }, 'stream failed before its first byte: bootstrap retry');
    }
  }
}

/** CLI Proxy API retries a stream's bootstrap after auth, timeout, rate-limit and server errors. */
const bootstrapEligible = (status: number) => status === 401 || status === 402 || status === 403 || status === 408 || status === 429 || status >= 500;

async function executeRounds(rt: Runtime, snap: Snapshot, plan: ExecutePlan, attemptsBefore: number): Promise<Committed> {
  const config = snap.config;
  // Each credential takes part in as many extra rounds as its own request-retry (key, provider, global).
  const retriesOf = (c: Credential) => c.requestRetry ?? config['request-retry'];
  let maxRetry = 0;
  for (const t of plan.pool.members) for (const c of t.provider.credentials) maxRetry = Math.max(maxRetry, retriesOf(c));
  const rounds = 1 + maxRetry;
  const perRound = config['max-retry-credentials'] || Infinity;
  const maxWaitMs = config['max-retry-interval'] * 1000;
  const roundOptions = { strategy: config.routing.strategy, sessionKey: plan.sessionKey };
  const transientCooldownMs = config['transient-error-cooldown-seconds'] * 1000;
  let attempts = attemptsBefore;
  let lastError: ProxyError | undefined;
  let lastTried: Candidate | undefined;
  for (let round = 0; round < rounds; round++) {
    let triedThisRound = 0;
    let retryable = false;
    let skipped = 0;
    for (const cand of rt.balancer.round(plan.pool, roundOptions)) {
      if (!canServe(plan, cand.target)) continue;
      if (retriesOf(cand.credential) < round) {
        skipped++;
        continue;
      }
      if (triedThisRound >= perRound) break;
      triedThisRound++;
      attempts++;
      const result = await attempt(rt, snap, plan, cand, attempts);
      lastTried = cand;
      if (result.ok) {
        rt.balancer.recordSuccess(cand.target, cand.credential);
        rt.recent.record(cand.credential, true);
        if (plan.sessionKey) rt.balancer.affinity.bind(plan.pool, plan.sessionKey, cand, config.routing['session-affinity-ttl'] * 1000);
        return result.committed;
      }
      lastError = result.error;
      rt.recent.record(cand.credential, false);
      const { fault, action } = result.classified;
      if (fault) {
        rt.balancer.recordFailure(cand.target, cand.credential, fault, {
          status: result.error instanceof UpstreamReply ? result.error.status : undefined,
          message: result.error instanceof UpstreamReply ? `upstream answered ${result.error.status} (${fault.kind})` : result.error.message,
          transientCooldownMs,
        });
      }
      if ((action ?? (fault ? 'continue' : 'stop')) === 'stop') throw withAttempts(result.error, attempts, lastTried);
      retryable ||= result.classified.retryable;
    }
    // No credential takes part in this many rounds (their request-retry is lower): done.
    if (triedThisRound === 0 && skipped > 0 && lastError) throw withAttempts(lastError, attempts, lastTried);
    const now = Date.now();
    const release = rt.balancer.soonestRelease(plan.pool, now);
    if (triedThisRound === 0 && lastError === undefined && release === undefined) break; // nothing configured
    // Another round only after a transient failure (or when everything was already cooling),
    // and only if a credential comes back soon enough.
    const mayRetry = triedThisRound === 0 || retryable;
    if (mayRetry && round < rounds - 1 && rt.balancer.hasAvailable(plan.pool, now)) continue; // capped round: more keys left
    if (!mayRetry || round === rounds - 1 || release === undefined || release - now > maxWaitMs) {
      if (lastError) throw withAttempts(lastError, attempts, lastTried);
      if (release !== undefined) throw cooldownError(plan.pool, release, now);
      break;
    }
    const sleptAt = performance.now();
    try {
      // libuv starts a timer from its cached loop time, so it can fire a little before the
      // wall-clock release; a round started then would find every credential still cooling.
      for (let wait = release - now; wait > 0; wait = release - Date.now()) await sleepUnlessAborted(wait, plan.signal);
    } catch {
      throw new ClientGone();
    }
    // Waiting for a cooling upstream is not the gateway's own time.
    if (plan.timing) plan.timing.upstreamMs += performance.now() - sleptAt;
  }
  if (lastError) throw withAttempts(lastError, attempts, lastTried);
  if (!plan.pool.members.some((t) => canServe(plan, t))) {
    throw new ProxyError(400, 'unsupported_endpoint', `model ${plan.pool.id} is served only by upstreams that have no ${plan.path} endpoint`);
  }
  const release = rt.balancer.soonestRelease(plan.pool);
  if (release !== undefined) throw cooldownError(plan.pool, release, Date.now());
  throw new ProxyError(503, 'no_upstream', `no upstream available for model ${plan.pool.id}`);
}

/** Records how many attempts were made, and which one came last, on the error the client sees. */
function withAttempts(error: ProxyError, attempts: number, last: Candidate | undefined): ProxyError {
  error.attempts = attempts;
  if (last) error.lastTried = { provider: last.target.provider.name, credential: last.credential.index };
  return error;
}
