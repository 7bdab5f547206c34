#!/usr/bin/env node
/**
 * Where the bytes of an open stream go: `node bench/stream-memory.mjs [--streams 10000] [--rate 1000]`
 * opens that many slow streams (at a steady rate, all open at once) through the floor and through
 * cliproxy, each in a fresh process, and prints per stream: RSS, and for cliproxy the V8 heap in use,
 * the heap V8 holds, and memory outside the heap (Buffers), read from its own /metrics
 * (prom-client's process metrics) while every stream is open. The rest of RSS is native: sockets'
 * libuv handles, llhttp parsers, malloc arenas and code.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { memoryMb, startCliproxy, startScript, stopAll, stopChild } from './lib/procs.mjs';
import { requestBody } from './lib/request.mjs';

const { values } = parseArgs({ options: { streams: { type: 'string', default: '10000' }, rate: { type: 'string', default: '1000' } } });
const COUNT = Number(values.streams);
const RATE = Number(values.rate);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LIFETIME = 10 * 60_000;
const rampMs = (COUNT / RATE) * 1000;
const mode = { chunks: 20, ttfbMs: 0, delayMs: Math.ceil((rampMs + 4000) / 20) };

async function scrape(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const get = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
  return { heapUsed: get('nodejs_heap_size_used_bytes'), heapTotal: get('nodejs_heap_size_total_bytes'), external: get('nodejs_external_memory_bytes') };
}

/**
 * Opens COUNT streams at RATE/s. Every 250 ms `sample()` is taken while more streams are open than
 * at any earlier sample; the sample at the most open streams is the measurement (on a busy machine
 * not every stream may be open at once).
 */
async function openStreams(base, key, sample) {
  const url = new URL(base);
  const pool = new Pool(url.origin, { connections: COUNT, pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000 });
  const body = requestBody('bench-model', true);
  const headers = { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) };
  let open = 0;
  let peakOpen = 0;
  const reasons = {};
  const fail = (why) => (reasons[why] = (reasons[why] ?? 0) + 1);
  const one = async () => {
    let counted = false;
    try {
      const res = await pool.request({ path: `${url.pathname}/chat/completions`, method: 'POST', headers, body });
      if (res.statusCode !== 200) fail(`HTTP ${res.statusCode}`);
      open++;
      counted = true;
      peakOpen = Math.max(peakOpen, open);
      let text = '';
      for await (const chunk of res.body) text += chunk;
      if (!text.includes('[DONE]')) fail('no [DONE]');
    } catch (err) {
      fail(err.code ?? err.name);
    } finally {
      if (counted) open--;
    }
  };
  let best;
  let sampling = false;
  const sampler = setInterval(async () => {
    if (sampling || open <= (best?.open ?? 0)) return;
    sampling = true;
    const at = open;
    const m = await sample().catch(() => undefined);
    if (m && at > (best?.open ?? 0)) best = { open: at, ...m };
    sampling = false;
  }, 250);
  const all = [];
  const started = performance.now();
  while (all.length < COUNT) {
    const due = Math.min(COUNT, Math.ceil((COUNT * (performance.now() - started + 10)) / rampMs));
    while (all.length < due) all.push(one());
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.allSettled(all);
  clearInterval(sampler);
  await pool.destroy();
  return { measured: best, peakOpen, reasons };
}

const mock = await startScript(new URL('./mock-upstream.mjs', import.meta.url), [], { name: 'mock', lifetimeMs: LIFETIME });
const mockBase = `http://127.0.0.1:${mock.port}`;
await fetch(`${mockBase}/_bench/mode`, { method: 'POST', body: JSON.stringify(mode) });
const dir = mkdtempSync(join(os.tmpdir(), 'cliproxy-streammem-'));
const config = join(dir, 'config.yaml');
writeFileSync(
  config,
  `api-keys: ["bench-key"]\nmetrics: { public: true }\nopenai-compatibility:\n  - name: mock\n    base-url: "${mockBase}/v1"\n    api-key-entries: [{ api-key: sk-bench-1 }, { api-key: sk-bench-2 }]\n    models: [{ name: mock-model-a, alias: bench-model }]\n`,
);
const rows = [];
try {
  for (const name of ['floor', 'cliproxy']) {
    const proc =
      name === 'floor'
        ? await startScript(new URL('./floor-proxy.mjs', import.meta.url), ['--upstream', mockBase], { name, lifetimeMs: LIFETIME })
        : await startCliproxy({ cli: join(ROOT, 'dist', 'cli.js'), configPath: config, lifetimeMs: LIFETIME, cwd: dir });
    const base = `http://127.0.0.1:${proc.port}/v1`;
    const key = name === 'cliproxy' ? 'bench-key' : undefined;
    await openStreamsWarm(base, key);
    const idle = { rss: memoryMb(proc.pid).rss, ...(name === 'cliproxy' ? await scrape(proc.port) : {}) };
    const r = await openStreams(base, key, async () => ({ rss: memoryMb(proc.pid).rss, ...(name === 'cliproxy' ? await scrape(proc.port) : {}) }));
    r.peakOpen = Math.max(r.peakOpen, r.measured?.open ?? 0);
    await stopChild(proc.child, 5_000);
    rows.push({ name, idle, peak: r.measured, peakOpen: r.peakOpen, reasons: r.reasons });
  }
} finally {
  stopAll();
  rmSync(dir, { recursive: true, force: true });
}

async function openStreamsWarm(base, key) {
  const pool = new Pool(new URL(base).origin);
  const res = await pool.request({
    path: `${new URL(base).pathname}/chat/completions`,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: requestBody('bench-model', false),
  });
  await res.body.text();
  await pool.destroy();
}

const kb = (mb, n) => (Number.isFinite(mb) ? ((mb * 1024 * 1024) / n / 1024).toFixed(1) : '-');
console.log(`${COUNT} streams opened at ${RATE}/s (chunks ${mode.delayMs} ms apart); measured at the most streams open; per stream in KB`);
console.log('target    peak open  measured at  RSS idle MB  RSS there MB  RSS/stream  heap used/stream  heap held/stream  outside heap/stream  failures');
for (const r of rows) {
  const p = r.peak ?? { open: 0 };
  console.log(
    [
      r.name.padEnd(8),
      String(r.peakOpen).padStart(9),
      String(p.open).padStart(11),
      r.idle.rss.toFixed(1).padStart(11),
      (p.rss ?? NaN).toFixed(1).padStart(12),
      kb(p.rss - r.idle.rss, p.open).padStart(10),
      kb(p.heapUsed - r.idle.heapUsed, p.open).padStart(16),
      kb(p.heapTotal - r.idle.heapTotal, p.open).padStart(16),
      kb(p.external - r.idle.external, p.open).padStart(19),
      `  ${Object.entries(r.reasons).map(([k, n]) => `${n}× ${k}`).join(', ') || 'none'}`,
    ].join('  '),
  );
}
