#!/usr/bin/env node
/**
 * The floor: the thinnest Node pass-through proxy, run in its own process. node:http in, one
 * keep-alive undici Pool out, bodies piped both ways, no body parsing, no routing, no auth; only
 * hop-by-hop headers are dropped (RFC 9110 §7.6.1), as any correct proxy must. Whatever cliproxy
 * costs above this is its own work; what this costs is "Node in the path" on this machine.
 *
 *   node bench/floor-proxy.mjs --upstream http://127.0.0.1:PORT [--port 0] [--client stream|request]
 *
 * `stream` (default) uses undici's `pool.stream()`, which writes the upstream body straight into the
 * client response (no intermediate Readable): the cheapest pass-through undici offers.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import './lib/lifeline.mjs';

const { values: args } = parseArgs({
  options: {
    upstream: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    client: { type: 'string', default: 'stream' },
  },
});
if (!args.upstream) {
  process.stderr.write('floor-proxy: --upstream URL is required\n');
  process.exit(1);
}

const pool = new Pool(new URL(args.upstream).origin, { pipelining: 1, keepAliveTimeout: 60_000 });

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'host']);

/** Client request headers (flat raw list) minus hop-by-hop ones, as the flat list undici takes. */
function requestHeaders(raw) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  }
  return out;
}

function responseHeaders(headers) {
  const out = {};
  for (const name in headers) if (!HOP_BY_HOP.has(name)) out[name] = headers[name];
  return out;
}

function badGateway(res, err) {
  if (res.headersSent) return void res.destroy(err);
  const body = JSON.stringify({ error: { message: `floor: upstream failed: ${err.code ?? err.message}`, type: 'api_error' } });
  res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function viaStream(req, res) {
  pool.stream(
    { path: req.url, method: req.method, headers: requestHeaders(req.rawHeaders), body: req, opaque: res },
    ({ statusCode, headers, opaque }) => {
      opaque.writeHead(statusCode, responseHeaders(headers));
      return opaque;
    },
    (err) => {
      if (err) badGateway(res, err);
    },
  );
}

function viaRequest(req, res) {
  pool.request({ path: req.url, method: req.method, headers: requestHeaders(req.rawHeaders), body: req }, (err, data) => {
    if (err) return badGateway(res, err);
    res.writeHead(data.statusCode, responseHeaders(data.headers));
    data.body.pipe(res);
    data.body.on('error', (e) => res.destroy(e));
    res.once('close', () => {
      if (!res.writableFinished) data.body.destroy();
    });
  });
}

const handler = args.client === 'request' ? viaRequest : viaStream;
const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  // A client that leaves aborts the upstream exchange too.
  res.once('close', () => {
    if (!res.writableFinished) req.destroy();
  });
  handler(req, res);
});

server.listen(Number(args.port), args.host, () => {
  const { port } = server.address();
  if (process.send) process.send({ ready: true, port });
  else process.stdout.write(`floor proxy listening on http://${args.host}:${port} -> ${args.upstream}\n`);
});
process.once('SIGTERM', () => process.exit(0));
process.once('SIGINT', () => process.exit(0));
