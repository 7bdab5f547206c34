#!/usr/bin/env node
/**
 * The load generator, in its own process so its CPU is its own (and measured): the runner sends it
 * one job at a time over IPC and gets the raw figures back.
 *
 *   fixed     open-loop, evenly paced requests at `rate`/s (non-stream or stream), each timed with
 *             process.hrtime to the sub-microsecond; stream jobs also time the first chunk
 *   saturate  autocannon, `connections` closed-loop connections, as fast as the target answers
 *   open      `count` streams opened over `rampMs` and held open together (peak memory)
 *
 * Every answer is checked: non-2xx, transport errors, JSON answers that are not a chat.completion,
 * streams without `data: [DONE]` or with the wrong number of chunks are all counted.
 */
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { SseCheck } from './lib/sse-check.mjs';
import './lib/lifeline.mjs';

const hr = process.hrtime.bigint;
const msSince = (t0) => Number(hr() - t0) / 1e6;

/** A JSON answer counts only if it is a complete chat.completion (cheap checks, no full parse). */
const goodCompletion = (text) => text.includes('"chat.completion"') && text.trimEnd().endsWith('}');

function newTally() {
  return { sent: 0, ok: 0, non2xx: 0, errors: 0, bad: 0, statuses: {}, problems: {}, errorCodes: {} };
}

function countInto(map, key) {
  map[key] = (map[key] ?? 0) + 1;
}

function requestOptions(job, url) {
  return { path: url.pathname + url.search, method: 'POST', headers: job.headers, body: job.body, headersTimeout: job.timeoutMs, bodyTimeout: job.timeoutMs };
}

/** One non-stream request; pushes its latency (ms) on success. */
async function oneJson(pool, job, url, tally, out) {
  const t0 = hr();
  try {
    const { statusCode, body } = await pool.request(requestOptions(job, url));
    const text = await body.text();
    const ms = msSince(t0);
    if (statusCode < 200 || statusCode > 299) {
      tally.non2xx++;
      countInto(tally.statuses, statusCode);
    } else if (!goodCompletion(text)) {
      tally.bad++;
      countInto(tally.problems, 'not-a-completion');
    } else {
      tally.ok++;
      out.lat.push(ms);
    }
  } catch (err) {
    tally.errors++;
    countInto(tally.errorCodes, err.code ?? err.name);
  }
}

/** One stream: time to the first complete data event, to the end, and every chunk's lag. */
async function oneStream(pool, job, url, tally, out, signal) {
  const t0 = hr();
  const check = new SseCheck(job.expectChunks, out.lags);
  let opened = false;
  try {
    const { statusCode, body } = await pool.request({ ...requestOptions(job, url), signal });
    if (statusCode < 200 || statusCode > 299) {
      await body.dump();
      tally.non2xx++;
      countInto(tally.statuses, statusCode);
      return;
    }
    opened = true;
    out.onOpen?.();
    for await (const chunk of body) check.feed(chunk.toString('latin1'), hr());
    const total = msSince(t0);
    if (!check.ok) {
      tally.bad++;
      countInto(tally.problems, check.problem);
      return;
    }
    tally.ok++;
    out.ttfc.push(Number(check.firstAt - t0) / 1e6);
    out.total.push(total);
  } catch (err) {
    tally.errors++;
    countInto(tally.errorCodes, signal?.aborted ? 'unfinished-at-deadline' : (err.code ?? err.name));
  } finally {
    if (opened) out.onClose?.();
  }
}

/**
 * Calls `fire` `rate` times a second for `seconds`, on an even schedule. Timers have ~1 ms
 * granularity, so a send may leave up to ~1 ms late; that lateness is measured and reported. No
 * busy-waiting: the load generator must not eat the CPU the targets need.
 */
function paced(rate, seconds, fire) {
  return new Promise((resolve) => {
    const intervalMs = 1000 / rate;
    const total = Math.max(1, Math.round(rate * seconds));
    const start = performance.now();
    const late = [];
    let sent = 0;
    const tick = () => {
      const now = performance.now();
      while (sent < total) {
        const due = start + sent * intervalMs;
        if (due > now) break;
        late.push(now - due);
        fire();
        sent++;
      }
      if (sent >= total) return resolve({ sent, late, seconds: (performance.now() - start) / 1000 });
      setTimeout(tick, Math.max(1, Math.floor(start + sent * intervalMs - performance.now())));
    };
    tick();
  });
}

async function fixedJob(job) {
  const url = new URL(job.url);
  const pool = new Pool(url.origin, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
  const tally = newTally();
  const out = { lat: [], ttfc: [], total: [], lags: job.stream ? [] : undefined };
  const inflight = new Set();
  let overload = 0;
  const pacing = await paced(job.rate, job.seconds, () => {
    if (inflight.size >= job.maxInflight) return void overload++;
    tally.sent++;
    const p = job.stream ? oneStream(pool, job, url, tally, out) : oneJson(pool, job, url, tally, out);
    inflight.add(p);
    p.finally(() => inflight.delete(p));
  });
  await Promise.allSettled([...inflight]);
  await pool.destroy();
  if (overload) countInto(tally.errorCodes, 'not-sent-overload');
  tally.errors += overload;
  return { tally, ...out, late: pacing.late, seconds: pacing.seconds };
}

function verifier(job) {
  // Other client APIs (bench/lib/apis.mjs): their answer's own marker, and complete JSON.
  if (job.expect) return (text) => text.includes(job.expect) && text.trimEnd().endsWith('}');
  if (!job.stream) return goodCompletion;
  return (text) => {
    const check = new SseCheck(job.expectChunks);
    check.feed(text, 0n);
    return check.ok;
  };
}

function saturateJob(job) {
  return new Promise((resolve, reject) => {
    const tally = newTally();
    const lat = [];
    const started = performance.now();
    const instance = autocannon(
      {
        url: job.url,
        method: 'POST',
        headers: job.headers,
        body: job.body,
        connections: job.connections,
        duration: job.seconds,
        timeout: Math.ceil(job.timeoutMs / 1000),
        verifyBody: verifier(job),
      },
      (err, result) => {
        if (err) return reject(err);
        const seconds = (performance.now() - started) / 1000;
        tally.errors = result.errors; // includes timeouts
        if (result.timeouts) tally.errorCodes.timeout = result.timeouts;
        if (result.errors - result.timeouts > 0) tally.errorCodes.connection = result.errors - result.timeouts;
        // autocannon's mismatch count includes non-2xx bodies, which are counted apart.
        tally.bad = Math.max(0, result.mismatches - tally.non2xx);
        if (tally.bad) tally.problems[job.stream ? 'stream-incomplete' : 'not-a-completion'] = tally.bad;
        tally.ok -= tally.bad;
        tally.sent = tally.ok + tally.bad + tally.non2xx + tally.errors;
        resolve({ tally, lat, seconds });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, ms) => {
      if (statusCode >= 200 && statusCode <= 299) {
        tally.ok++;
        lat.push(ms);
      } else {
        tally.non2xx++;
        countInto(tally.statuses, statusCode);
      }
    });
  });
}

async function openJob(job) {
  const url = new URL(job.url);
  const pool = new Pool(url.origin, { connections: job.count, pipelining: 1, keepAliveTimeout: 30_000 });
  const tally = newTally();
  let open = 0;
  let peakOpen = 0;
  let peakAt = 0;
  const started = performance.now();
  const out = {
    ttfc: [],
    total: [],
    lags: undefined,
    onOpen: () => {
      if (++open > peakOpen) {
        peakOpen = open;
        peakAt = performance.now() - started;
      }
    },
    onClose: () => void open--,
  };
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort(), job.deadlineMs);
  const progress = setInterval(() => process.send({ progress: { open, peakOpen } }), 100);
  const all = [];
  // Opened at a steady rate: a batch every 10 ms (a timer per stream would be coarser than the gap),
  // each batch as far as the schedule says by now, so a slow tick does not slow the rate.
  let sent = 0;
  while (sent < job.count) {
    const due = Math.min(job.count, Math.ceil((job.count * (performance.now() - started + 10)) / Math.max(1, job.rampMs)));
    for (; sent < due; sent++) {
      tally.sent++;
      all.push(oneStream(pool, job, url, tally, out, controller.signal));
    }
    if (sent < job.count) await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.allSettled(all);
  clearTimeout(deadline);
  clearInterval(progress);
  await pool.destroy();
  return { tally, ttfc: out.ttfc, total: out.total, peakOpen, peakAtMs: peakAt, seconds: (performance.now() - started) / 1000 };
}

const JOBS = { fixed: fixedJob, saturate: saturateJob, open: openJob };

process.on('message', async ({ id, job }) => {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let result;
  try {
    result = await JOBS[job.type](job);
  } catch (err) {
    result = { fatal: err?.stack ?? String(err) };
  }
  const cpu = process.cpuUsage(cpu0);
  result.driverCpuMs = (cpu.user + cpu.system) / 1000;
  result.driverWallMs = performance.now() - t0;
  process.send({ id, result });
});
process.send({ ready: true });
