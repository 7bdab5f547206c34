/**
 * A tiny OpenAI-compatible echo provider on loopback, for `npm run demo`: chat completions
 * (streaming too, word by word), legacy completions, embeddings and /models, so the README's curl
 * and SDK examples work on a machine with no internet and no provider account.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const WORD_GAP_MS = 25;

function lastUserText(body: any): string {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  const last = [...messages].reverse().find((m: any) => m?.role === 'user');
  const content = last?.content;
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p: any) => (typeof p?.text === 'string' ? p.text : '')).join(' ');
  return typeof body?.prompt === 'string' ? body.prompt : '';
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function usage(prompt: string, answer: string) {
  const prompt_tokens = Math.ceil(prompt.length / 4);
  const completion_tokens = Math.ceil(answer.length / 4);
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

async function streamChat(res: ServerResponse, model: string, prompt: string, answer: string, withUsage: boolean): Promise<void> {
  const id = `chatcmpl-demo-${Date.now()}`;
  const created = Math.floor(Date.now() / 1000);
  const event = (delta: object, finish: string | null) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(event({ role: 'assistant', content: '' }, null));
  for (const word of answer.split(/(?<= )/)) {
    await new Promise((r) => setTimeout(r, WORD_GAP_MS));
    if (res.destroyed) return;
    res.write(event({ content: word }, null));
  }
  res.write(event({}, 'stop'));
  if (withUsage) res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: usage(prompt, answer) })}\n\n`);
  res.end('data: [DONE]\n\n');
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  let body: any = {};
  try {
    body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
  } catch {
    return send(res, 400, { error: { message: 'invalid JSON', type: 'invalid_request_error', code: null } });
  }
  const model = String(body.model ?? 'demo');
  const path = (req.url ?? '').split('?')[0]!;
  if (req.method === 'GET' && path.endsWith('/models')) {
    return send(res, 200, { object: 'list', data: [{ id: 'demo', object: 'model', created: 0, owned_by: 'demo' }] });
  }
  const prompt = lastUserText(body);
  const answer = `You said: ${prompt || '(nothing)'} (answered by the demo provider as ${model})`;
  if (path.endsWith('/chat/completions')) {
    if (body.stream === true) return streamChat(res, model, prompt, answer, body.stream_options?.include_usage === true);
    return send(res, 200, {
      id: `chatcmpl-demo-${Date.now()}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }],
      usage: usage(prompt, answer),
    });
  }
  if (path.endsWith('/completions')) {
    return send(res, 200, { id: 'cmpl-demo', object: 'text_completion', created: Math.floor(Date.now() / 1000), model, choices: [{ index: 0, text: answer, finish_reason: 'stop' }], usage: usage(prompt, answer) });
  }
  if (path.endsWith('/embeddings')) {
    const inputs: string[] = Array.isArray(body.input) ? body.input.map(String) : [String(body.input ?? '')];
    const data = inputs.map((text, index) => {
      const digest = createHash('sha256').update(text).digest();
      return { object: 'embedding', index, embedding: [...digest.subarray(0, 8)].map((b) => b / 255) };
    });
    return send(res, 200, { object: 'list', data, model, usage: { prompt_tokens: 1, total_tokens: 1 } });
  }
  send(res, 404, { error: { message: `demo provider has no ${path}`, type: 'invalid_request_error', code: null } });
}

/** Starts the echo provider on 127.0.0.1 (port 0 = any free port). */
export async function startEchoUpstream(port = 0): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` };
}
