#!/usr/bin/env node
// npm run soak [-- --minutes 10 --concurrency 16]
// Mixed traffic through the built cliproxy (dist/cli.js, its own process) against loopback
// upstreams that inject faults: 5xx, 429 with Retry-After, resets before headers, stalls, resets
// mid-stream. Prints requests sent / succeeded / failed by reason and cliproxy's RSS at start and
// end. Everything stays on loopback and stops by itself.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, concurrency: { type: 'string', default: '16' } } });
const durationMs = Number(values.minutes) * 60_000;
const concurrency = Number(values.concurrency);
const CLIENT_KEY = 'sk-soak-client';

let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);

const chunk = (content, model) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model, choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;

/** An upstream that misbehaves at the given rate. */
function faultyUpstream(faultRate) {
  return createServer(async (req, res) => {
    let raw = '';
    for await (const c of req) raw += c;
    const body = JSON.parse(raw);
    const roll = random();
    if (roll < faultRate * 0.35) return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom","type":"server_error"}}');
    if (roll < faultRate * 0.6) return void res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"error":{"message":"slow down","type":"rate_limit_error"}}');
    if (roll < faultRate * 0.75) return void req.socket.destroy();
    if (roll < faultRate * 0.85) return; // stall: the gateway's first-byte timeout must fire
    const midStreamReset = roll < faultRate;
    if (body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < 10; i++) {
        if (res.destroyed) return;
        res.write(chunk(`w${i} `, body.model));
        if (midStreamReset && i === 4) return void req.socket.destroy();
        await new Promise((r) => setTimeout(r, 5));
      }
      return void res.end('data: [DONE]\n\n');
    }
    const answer = JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] });
    res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
  });
}

const listen = (server) => new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));
const rss = async (pid) => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

const upstreams = [faultyUpstream(0.3), faultyUpstream(0.1), faultyUpstream(0.02)];
const ports = await Promise.all(upstreams.map(listen));
const dir = await mkdtemp(join(tmpdir(), 'cliproxy-soak-'));
const configPath = join(dir, 'config.yaml');
const providers = ports
  .map((port, i) => `  - name: up${i}\n    base-url: http://127.0.0.1:${port}/v1\n    api-key-entries: [{api-key: sk-up${i}-a}, {api-key: sk-up${i}-b}]\n    models: [{name: m${i}, alias: pool}]\n`)
  .join('');
await writeFile(configPath, `host: 127.0.0.1\nport: 0\napi-keys: [${CLIENT_KEY}]\nrequest-retry: 1\nmax-retry-interval: 2\ntransient-error-cooldown-seconds: 2\ntimeouts: {connect: 2, first-byte: 2, idle: 2}\nopenai-compatibility:\n${providers}`);

const child = spawn(process.execPath, [resolve('dist/cli.js'), '--config', configPath], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } });
const url = await new Promise((resolveUrl, reject) => {
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) resolveUrl(m[1]);
  });
  child.once('exit', () => reject(new Error(`cliproxy exited: ${out}`)));
});

const agent = new Agent({ connections: concurrency });
const stats = { sent: 0, ok: 0, aborted: 0, failed: {} };
const fail = (reason) => (stats.failed[reason] = (stats.failed[reason] ?? 0) + 1);
const rssStart = await rss(child.pid);
let rssPeak = rssStart;
const started = Date.now();

async function one() {
  const stream = random() < 0.5;
  const abort = stream && random() < 0.05 ? new AbortController() : undefined;
  stats.sent++;
  try {
    const res = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      dispatcher: agent,
      signal: abort?.signal,
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'pool', stream, messages: [{ role: 'user', content: 'soak' }] }),
    });
    if (abort) {
      setTimeout(() => abort.abort(), 10);
      await res.body.text().catch(() => undefined);
      stats.aborted++;
      return;
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) return fail(`http ${res.statusCode}`);
    if (stream && text.includes('"error"')) return fail('stream ended with an error event (upstream died mid-stream)');
    if (stream && !text.includes('[DONE]')) return fail('stream without [DONE]');
    stats.ok++;
  } catch (err) {
    if (abort) return void stats.aborted++;
    fail(`client error ${err.code ?? err.message}`);
  }
}

const report = setInterval(async () => {
  rssPeak = Math.max(rssPeak, await rss(child.pid));
  process.stdout.write(`${Math.round((Date.now() - started) / 1000)} s: sent ${stats.sent}, ok ${stats.ok}, aborted ${stats.aborted}, failed ${JSON.stringify(stats.failed)}, RSS ${rssPeak.toFixed(0)} MB peak\n`);
}, 30_000);
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() - started < durationMs) await one();
  }),
);
clearInterval(report);
const rssEnd = await rss(child.pid);
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
await agent.close();
for (const u of upstreams) u.closeAllConnections(), u.close();
await rm(dir, { recursive: true, force: true });

const failedTotal = Object.values(stats.failed).reduce((a, b) => a + b, 0);
console.log(`\nsoak: ${values.minutes} min, ${concurrency} concurrent, fault rates 30% / 10% / 2% per upstream`);
console.log(`requests sent ${stats.sent}, succeeded ${stats.ok}, aborted by the client (on purpose) ${stats.aborted}, failed ${failedTotal}`);
for (const [reason, n] of Object.entries(stats.failed)) console.log(`  ${n}  ${reason}`);
console.log(`cliproxy RSS: start ${rssStart.toFixed(1)} MB, end ${rssEnd.toFixed(1)} MB, peak ${rssPeak.toFixed(1)} MB`);
