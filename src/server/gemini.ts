/**
 * The Gemini API (what Gemini CLI and the @google/genai SDKs speak) on top of the same routing as
 * /v1/chat/completions: POST /v1beta/models/{model}:generateContent and :streamGenerateContent are
 * translated to chat completion requests, run through the attempt loop (pools, failover, retries)
 * and translated back; :countTokens estimates; GET /v1beta/models lists in Google's format. The
 * /v1/ forms work too, where they cannot be OpenAI requests (see isGeminiRequest).
 */
import { ProxyError } from '../errors.js';
import { resolvePool, type Pool } from '../routing/registry.js';
import { estimatePromptTokens, streamToGemini, toChat, toGemini, wantsThoughts, type AnswerOptions, type GeminiModel } from '../translate/gemini/index.js';
import { normalizeUsage } from '../observe/usage.js';
import { authenticate } from './auth.js';
import { readJsonBody } from './body.js';
import { clientSignal, sendJson, type RequestContext } from './context.js';
import { embed } from './gemini-embed.js';
import { GeminiFramer } from './gemini-framing.js';
import { parseCompletion, runChat } from './hub.js';
import { addRoutingHeaders } from './openai.js';
import { relayStream } from './sse.js';
import { nativePlan, relayNative } from './native-relay.js';

const METHODS = ['generateContent', 'streamGenerateContent', 'countTokens'];
/** Served too, though not listed per model: whether a model embeds is the upstream's business. */
const EMBED_METHODS = ['embedContent', 'batchEmbedContents'];

/**
 * Requests for this handler: everything under /v1beta/; under /v1/, POSTs to /v1/models/… (the
 * OpenAI API has none) and model listings from Gemini clients, which send `x-goog-api-key` or
 * `x-goog-api-client`, or a `?key=` without an OpenAI or Anthropic key header.
 */
export function isGeminiRequest(ctx: RequestContext): boolean {
  const { path, req } = ctx;
  if (path.startsWith('/v1beta/')) return true;
  if (!path.startsWith('/v1/models')) return false;
  if (req.method === 'POST' && path.startsWith('/v1/models/')) return true;
  const h = req.headers;
  if (h['x-goog-api-key'] !== undefined || h['x-goog-api-client'] !== undefined) return true;
  return ctx.query?.has('key') === true && h.authorization === undefined && h['x-api-key'] === undefined;
}

function notFound(id: string, method = 'generateContent'): ProxyError {
  return new ProxyError(404, 'model_not_found', `models/${id} is not found for this proxy, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`);
}

/** A model id from a path, with or without the `models/` prefix, and the id answers name. */
function resolveModel(ctx: RequestContext, id: string, method: string): { pool: Pool; model: string } {
  ctx.info.model = id;
  let pool = resolvePool(ctx.snap.registry, id);
  let model = id;
  if (!pool && id.startsWith('models/')) {
    model = id.slice('models/'.length);
    pool = resolvePool(ctx.snap.registry, model);
  }
  if (!pool) throw notFound(id, method);
  ctx.info.alias = pool.id;
  return { pool, model };
}

/** A path segment decoded; a malformed escape is the client's error, not ours. */
function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ProxyError(400, 'invalid_request', `malformed model name in the path: ${segment}`);
  }
}

function methodNotAllowed(ctx: RequestContext, allowed: string): never {
  ctx.headers.allow = allowed;
  throw new ProxyError(405, 'method_not_allowed', `${ctx.req.method} is not allowed on ${ctx.path}; use ${allowed}`);
}

/** Routes a request isGeminiRequest accepted. */
export async function routeGemini(ctx: RequestContext): Promise<void> {
  const { path, req } = ctx;
  ctx.info.client = authenticate(ctx.snap, req, ctx.query, '"x-goog-api-key: <key>" (or ?key=<key>)');
  const rest = path.startsWith('/v1beta/') ? path.slice('/v1beta/'.length) : path.slice('/v1/'.length);
  if (rest === 'models' || rest === 'models/') {
    if (req.method !== 'GET') methodNotAllowed(ctx, 'GET');
    return listModels(ctx);
  }
  if (!rest.startsWith('models/')) throw new ProxyError(404, 'not_found', `no such endpoint: ${req.method} ${path}`);
  const name = rest.slice('models/'.length);
  const colon = name.lastIndexOf(':');
  const method = colon > name.lastIndexOf('/') ? name.slice(colon + 1) : '';
  // Model ids may hold a colon themselves (`llama3:8b`): a method is only a known one.
  if (!METHODS.includes(method) && !EMBED_METHODS.includes(method)) {
    if (req.method !== 'GET') throw new ProxyError(404, 'not_found', `no such method: ${req.method} ${path} (supported: ${[...METHODS, ...EMBED_METHODS].join(', ')})`);
    return getModel(ctx, decode(name));
  }
  if (req.method !== 'POST') methodNotAllowed(ctx, 'POST');
  const id = decode(name.slice(0, colon));
  if (method === 'countTokens') return countTokens(ctx, id);
  if (EMBED_METHODS.includes(method)) {
    const { pool, model } = resolveModel(ctx, id, method);
    return embed(ctx, pool, model, method === 'batchEmbedContents');
  }
  return generate(ctx, id, method === 'streamGenerateContent');
}

const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };
/** streamGenerateContent without ?alt=sse: one JSON array, its elements written as they come. */
const ARRAY_HEADERS = { 'content-type': 'application/json; charset=UTF-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

/** :generateContent and :streamGenerateContent */
async function generate(ctx: RequestContext, id: string, stream: boolean): Promise<void> {
  const { raw, json } = await readJsonBody(ctx.req, ctx.snap.bodyLimitBytes);
  ctx.requestLog?.requestBody(raw);
  const method = stream ? 'streamGenerateContent' : 'generateContent';
  const { pool, model } = resolveModel(ctx, id, method);
  const chat = toChat(json, model, stream);
  const opts: AnswerOptions = {
    model,
    id: ctx.requestId.replaceAll('-', ''),
    includeThoughts: wantsThoughts(json),
    promptTokens: () => estimatePromptTokens(json),
  };
  const framer = new GeminiFramer(ctx.query?.get('alt') === 'sse');
  // A gemini-api-key upstream gets this very request (thought signatures, Google-only fields); it
  // streams SSE, so a client that wants the JSON-array stream goes through the hub instead.
  const native = !stream || framer.sse ? nativePlan('gemini', raw, model, ctx.req.headers) : undefined;
  const committed = await runChat(ctx, pool, chat, clientSignal(ctx.res), native);
  if (committed.native) return relayNative(ctx, committed, pool.id, framer.error);
  const headers = addRoutingHeaders(ctx, committed, ctx.headers);
  if (committed.kind === 'stream') {
    ctx.res.writeHead(200, Object.assign(headers, framer.sse ? SSE_HEADERS : ARRAY_HEADERS));
    ctx.res.flushHeaders();
    const translator = streamToGemini(opts);
    const mapper = {
      event: (data: string) => framer.run(() => translator.event(data)),
      end: () => framer.run(() => translator.end()) + framer.close(),
    };
    await relayStream(ctx.res, committed, { mapper, errorEvent: framer.error, tap: ctx.rt.observe.streamTap(ctx, false) });
    return;
  }
  const completion = parseCompletion(committed);
  ctx.info.usage = normalizeUsage(completion.usage);
  const answer = toGemini(completion, opts);
  if (!stream) return sendJson(ctx, 200, answer, headers);
  // Asked for a stream, got a plain answer (the upstream ignores `stream`): one stream object.
  ctx.res.writeHead(200, Object.assign(headers, framer.sse ? SSE_HEADERS : ARRAY_HEADERS));
  ctx.res.end(framer.frame([answer]) + framer.close());
}

/** :countTokens, the estimate documented in translate/gemini/tokens.ts. */
async function countTokens(ctx: RequestContext, id: string): Promise<void> {
  const { json } = await readJsonBody(ctx.req, ctx.snap.bodyLimitBytes);
  resolveModel(ctx, id, 'countTokens');
  // The body is {contents} or {generateContentRequest: {model, contents, tools, ...}}.
  const inner = json.generateContentRequest;
  const req = inner !== null && typeof inner === 'object' && !Array.isArray(inner) ? (inner as Record<string, unknown>) : json;
  toChat(req, id, false); // the same validation as generateContent: a bad request is a 400 here too
  sendJson(ctx, 200, { totalTokens: estimatePromptTokens(req) });
}

function modelEntry(pool: Pool): GeminiModel {
  return {
    name: `models/${pool.id}`,
    baseModelId: pool.id,
    version: '001',
    displayName: pool.id,
    description: `${pool.id} (${pool.ownedBy}) through cliproxy`,
    supportedGenerationMethods: [...METHODS],
  };
}

/** GET /v1beta/models: every model unless `pageSize` asks for pages (`pageToken` is an offset). */
function listModels(ctx: RequestContext): void {
  const list = ctx.snap.registry.list;
  const size = Number(ctx.query?.get('pageSize') ?? NaN);
  const start = Math.max(0, Number.parseInt(ctx.query?.get('pageToken') ?? '0', 10) || 0);
  const end = Number.isInteger(size) && size > 0 ? Math.min(list.length, start + size) : list.length;
  const body: { models: GeminiModel[]; nextPageToken?: string } = { models: list.slice(start, end).map(modelEntry) };
  if (end < list.length) body.nextPageToken = String(end);
  sendJson(ctx, 200, body);
}

/** GET /v1beta/models/{model} */
function getModel(ctx: RequestContext, id: string): void {
  sendJson(ctx, 200, modelEntry(resolveModel(ctx, id, 'generateContent').pool));
}
