/** Answers at the edges: which provider produced an error, and malformed HTTP in the JSON error shape. */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { chatBody, post, provider, startProxy } from './helpers/proxy.js';
import { error, mockUpstream } from './helpers/upstream.js';

test('an upstream error passed through names its provider and credential', async (t) => {
  const bad = await mockUpstream(error(400, 'bad tool schema', 'invalid_request_error'));
  const proxy = await startProxy({ 'openai-compatibility': [provider('strict', bad.url, ['m'])] });
  t.after(async () => Promise.all([proxy.close(), bad.close()]));
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('x-cliproxy-provider'), 'strict');
  assert.equal(res.headers.get('x-cliproxy-credential'), '0');
  assert.equal(res.headers.get('x-cliproxy-attempts'), '1');
  assert.equal(((await res.json()) as any).error.message, 'bad tool schema');
});

test('a 429 after every provider was tried names the last one tried', async (t) => {
  const order: string[] = [];
  const limited = (name: string) => async (...args: Parameters<ReturnType<typeof error>>) => {
    order.push(name);
    return error(429, `${name} is busy`, 'rate_limit_error', { 'retry-after': '600' })(...args);
  };
  const a = await mockUpstream(limited('alpha'));
  const b = await mockUpstream(limited('beta'));
  const proxy = await startProxy({
    'request-retry': 1,
    'openai-compatibility': [provider('alpha', a.url, [{ name: 'x', alias: 'pool' }]), provider('beta', b.url, [{ name: 'y', alias: 'pool' }])],
  });
  t.after(async () => Promise.all([proxy.close(), a.close(), b.close()]));
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('pool'));
  assert.equal(res.status, 429);
  assert.equal(order.length, 2);
  assert.equal(res.headers.get('x-cliproxy-attempts'), '2');
  assert.equal(res.headers.get('x-cliproxy-provider'), order.at(-1));
  assert.equal(((await res.json()) as any).error.message, `${order.at(-1)} is busy`);
});

test('an unreachable upstream (no answer at all) still names the provider that was tried', async (t) => {
  const gone = await mockUpstream(error(500));
  const url = gone.url;
  await gone.close();
  const proxy = await startProxy({ timeouts: { connect: 0.5, 'first-byte': 0.5, idle: 0.5 }, 'openai-compatibility': [provider('gone', url, ['m'])] });
  t.after(() => proxy.close());
  const res = await post(`${proxy.baseURL}/chat/completions`, chatBody('m'));
  assert.equal(res.status, 502);
  assert.equal(res.headers.get('x-cliproxy-provider'), 'gone');
});

/** Sends raw bytes and returns the raw answer once the server closes the connection. */
function raw(port: number, bytes: string, slowMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (answer += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
    if (slowMs === 0) socket.write(bytes);
    else {
      let i = 0;
      const timer = setInterval(() => (i < bytes.length && socket.writable ? socket.write(bytes[i++]!) : clearInterval(timer)), slowMs);
      socket.on('close', () => clearInterval(timer));
    }
  });
}

function parseRaw(answer: string): { status: number; headers: Record<string, string>; json: any } {
  const [head, body] = answer.split('\r\n\r\n', 2) as [string, string];
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine!.split(' ')[1]), headers, json: JSON.parse(body) };
}

test('malformed HTTP (400), a header flood (431) and slow headers (408) get the JSON error shape and a request id', async (t) => {
  const proxy = await startProxy({ 'openai-compatibility': [] }, { headersTimeoutMs: 400 });
  t.after(() => proxy.close());
  const port = proxy.gateway.port;

  const malformed = parseRaw(await raw(port, 'GET /v1/models HTTP/1.1\r\nHost: x\r\nNot a header line\r\n\r\n'));
  assert.equal(malformed.status, 400);
  assert.equal(malformed.headers['content-type'], 'application/json');
  assert.match(malformed.headers['x-request-id']!, /^[0-9a-f-]{36}$/);
  assert.equal(malformed.json.error.type, 'invalid_request_error');
  assert.equal(malformed.json.error.code, 'malformed_request');

  const flood = parseRaw(await raw(port, `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Flood: ${'y'.repeat(20_000)}\r\n\r\n`));
  assert.equal(flood.status, 431);
  assert.equal(flood.json.error.code, 'headers_too_large');
  assert.ok(flood.headers['x-request-id']);

  const slow = parseRaw(await raw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}`, 20));
  assert.equal(slow.status, 408);
  assert.equal(slow.json.error.code, 'request_timeout');
  assert.ok(slow.headers['x-request-id']);
  assert.notEqual(slow.headers['x-request-id'], flood.headers['x-request-id']);

  assert.equal((await fetch(`${proxy.url}/healthz`)).status, 200, 'the server lives on');
});

// Codex CLI (built-in OpenAI provider) opens the Responses API as a WebSocket first; only a 426
// makes it switch to HTTP at once instead of reconnecting five times (~16 s) every session.
test('a WebSocket upgrade gets 426 and the connection closes; other Upgrade headers are served as plain HTTP', async (t) => {
  const up = await mockUpstream(error(200, 'unused', 'unused'));
  up.handler = (_req, res) => {
    const body = JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const proxy = await startProxy({ 'openai-compatibility': [provider('p', up.url, ['m'])] });
  t.after(() => Promise.all([proxy.close(), up.close()]));
  const port = proxy.gateway.port;
  const ws = parseRaw(
    await raw(port, 'GET /v1/responses HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer sk-client-test-key-0001\r\n\r\n'),
  );
  assert.equal(ws.status, 426);
  assert.equal(ws.headers.connection, 'close');
  assert.equal(ws.json.error.code, 'websocket_unsupported');
  assert.ok(ws.headers['x-request-id']);
  // curl --http2 on http:// asks for h2c: the POST is answered over HTTP/1.1 as usual.
  const body = JSON.stringify(chatBody('m'));
  const h2c = await raw(
    port,
    `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nAuthorization: Bearer sk-client-test-key-0001\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  assert.match(h2c, /^HTTP\/1\.1 200 /);
});
