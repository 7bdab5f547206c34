#!/usr/bin/env node
/**
 * A fast loopback mock of an OpenAI-compatible upstream, run in its own process.
 *
 *   POST …/chat/completions          non-stream: a ~1 KB chat.completion (model echoed);
 *                                    "stream": true: SSE of `chunks` chunks, then `data: [DONE]`
 *   GET  …/models                    a one-model list (some gateways probe it)
 *   POST /_bench/mode {chunks, ttfbMs, delayMs}   stream shape for the following requests
 *   GET  /_bench/stats               requests served so far (upstream amplification check)
 *
 * Stream shape: headers at once, the first chunk after `ttfbMs`, then one chunk every `delayMs`
 * (0 = next event-loop turn, so chunks still leave as separate writes). Every chunk's content
 * carries `@<ns>`: process.hrtime.bigint() at the moment it was written. That clock is
 * CLOCK_MONOTONIC, shared by all processes on the machine, so the load generator can tell how long
 * each chunk spent in the proxy (a chunk held back until the next one arrives shows up there).
 *
 * Standalone (to point a peer gateway at it first): node bench/mock-upstream.mjs --port 18080
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import './lib/lifeline.mjs';

const { values: args } = parseArgs({
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
});

const mode = { chunks: 20, ttfbMs: 0, delayMs: 0 };
const stats = { requests: 0, streams: 0, completions: 0 };

const CONTENT = 'The quick brown fox jumps over the lazy dog. '.repeat(14).trim();
const MODEL_RE = /"model"\s*:\s*"([^"\\]{0,200})"/;
const STREAM_RE = /"stream"\s*:\s*true/;

/** Precomputed answers per model name (bounded: the bench uses a handful of names). */
const completions = new Map();
function completionFor(model) {
  let body = completions.get(model);
  if (!body) {
    body = Buffer.from(
      JSON.stringify({
        id: 'chatcmpl-bench0000000000000000000000',
        object: 'chat.completion',
        created: 1_700_000_000,
        model,
        system_fingerprint: 'fp_bench',
        choices: [{ index: 0, message: { role: 'assistant', content: CONTENT }, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 25, completion_tokens: 140, total_tokens: 165 },
      }),
    );
    if (completions.size < 64) completions.set(model, body);
  }
  return body;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

function chunkText(model, i, last) {
  const content = `tok${i}@${process.hrtime.bigint()}`;
  return `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":${JSON.stringify(model)},"choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":${last ? '"stop"' : 'null'}}]}\n\n`;
}

function sendStream(res, model) {
  stats.streams++;
  const { chunks, ttfbMs, delayMs } = mode;
  res.writeHead(200, SSE_HEADERS);
  res.flushHeaders();
  let i = 0;
  let timer;
  const next = () => {
    timer = undefined;
    if (res.destroyed) return;
    const last = i === chunks - 1;
    res.write(chunkText(model, i, last));
    if (last) return void res.end('data: [DONE]\n\n');
    i++;
    timer = delayMs > 0 ? setTimeout(next, delayMs) : setImmediate(next);
  };
  res.once('close', () => {
    if (timer) (delayMs > 0 ? clearTimeout : clearImmediate)(timer);
  });
  if (chunks === 0) return void res.end('data: [DONE]\n\n');
  timer = ttfbMs > 0 ? setTimeout(next, ttfbMs) : setImmediate(next);
}

function readBody(req, done) {
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => done(parts.length === 1 ? parts[0].toString() : Buffer.concat(parts).toString()));
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function setMode(text, res) {
  try {
    const next = JSON.parse(text);
    for (const key of ['chunks', 'ttfbMs', 'delayMs']) {
      if (next[key] !== undefined) {
        const n = Number(next[key]);
        if (!Number.isInteger(n) || n < 0 || n > 600_000) throw new Error(`${key}: expected a non-negative integer`);
        mode[key] = n;
      }
    }
    sendJson(res, 200, mode);
  } catch (err) {
    sendJson(res, 400, { error: { message: err.message } });
  }
}

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const url = req.url ?? '/';
  if (url.startsWith('/_bench/')) {
    if (url === '/_bench/mode' && req.method === 'POST') return readBody(req, (text) => setMode(text, res));
    if (url === '/_bench/stats') return sendJson(res, 200, stats);
    return sendJson(res, 404, { error: { message: 'no such bench endpoint' } });
  }
  if (req.method === 'GET' && url.endsWith('/models')) {
    return sendJson(res, 200, { object: 'list', data: [{ id: 'bench-model', object: 'model', created: 1_700_000_000, owned_by: 'mock' }] });
  }
  if (req.method !== 'POST' || !url.endsWith('/chat/completions')) {
    return sendJson(res, 404, { error: { message: `mock upstream: no route for ${req.method} ${url}`, type: 'invalid_request_error' } });
  }
  readBody(req, (text) => {
    stats.requests++;
    const model = MODEL_RE.exec(text)?.[1] ?? 'unknown';
    if (STREAM_RE.test(text)) return sendStream(res, model);
    stats.completions++;
    const body = completionFor(model);
    res.writeHead(200, { ...JSON_HEADERS, 'content-length': body.length });
    res.end(body);
  });
});

server.listen(Number(args.port), args.host, () => {
  const { port } = server.address();
  if (process.send) process.send({ ready: true, port });
  else process.stdout.write(`mock upstream listening on http://${args.host}:${port}/v1\n`);
});
process.once('SIGTERM', () => process.exit(0));
process.once('SIGINT', () => process.exit(0));
