/**
 * The OpenAI Responses API (what Codex CLI speaks, and the OpenAI SDK's `responses.*`) on top of the
 * same routing as /v1/chat/completions: POST /v1/responses (and Codex's /backend-api/codex/responses)
 * is translated to a chat completion request, run through the attempt loop (pools, failover,
 * retries), and the answer translated back, streamed or not. Responses are kept (`store`, on by
 * default as in OpenAI's API) so that `previous_response_id`, GET and DELETE work.
 */
import { ClientGone, ProxyError, badRequest } from '../errors.js';
import type { Committed } from '../execute.js';
import type { ChatUsage } from '../translate/openai-chat.js';
import { normalizeUsage } from '../observe/usage.js';
import type { Runtime } from '../runtime.js';
import { KEEP_ALIVE, responseId, responseOpening, responseToEvents, streamToResponses, toChat, toResponse, type ResponseObject, type ResponseOptions } from '../translate/responses/index.js';
import { compactionChat, compactionItem, isCompactionRequest } from '../translate/responses/compaction.js';
import { itemId, responseShell, usageOf } from '../translate/responses/response.js';
import type { Json } from '../translate/responses/types.js';
import { readJsonBody } from './body.js';
import { clientSignal, sendJson, type ClientSignal, type RequestContext } from './context.js';
import { responsesFailedEvent, toProxyError } from './errors.js';
import { completionText, parseCompletion, runChat } from './hub.js';
import { addRoutingHeaders, resolveRequestModel } from './openai.js';
import { ResponseStore } from './responses-store.js';
import { relayStream } from './sse.js';
import { nativePlan, relayNative } from './native-relay.js';
import type { NativePlan } from '../upstream/route.js';

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/** Comment-line keep-alive period while the upstream is silent (a reasoning model thinking). */
const KEEP_ALIVE_MS = 15_000;

/** One store per running gateway (tests run several in one process). */
const stores = new WeakMap<Runtime, ResponseStore>();

export function responseStore(rt: Runtime): ResponseStore {
  let store = stores.get(rt);
  if (!store) stores.set(rt, (store = new ResponseStore()));
  return store;
}

/** Stored responses belong to the client key that made them (its digest; '' on an open proxy). */
function ownerOf(ctx: RequestContext): string {
  const index = ctx.info.client ?? -1;
  return index < 0 ? '' : (ctx.snap.clientKeyDigests[index]?.toString('base64') ?? '');
}

/** The request's previous_response_id, checked; undefined when it has none. */
function previousResponseId(json: Json): string | undefined {
  const previous = json.previous_response_id;
  if (previous === undefined || previous === null) return undefined;
  if (typeof previous !== 'string' || previous === '') throw badRequest('previous_response_id: must be a string', 'invalid_request');
  return previous;
}

/** The Responses API's answer to an unknown previous_response_id. */
function previousNotFound(id: string): ProxyError {
  return new ProxyError(400, 'previous_response_not_found', `Previous response with id '${id}' not found.`, { param: 'previous_response_id' });
}

function responseNotFound(id: string): ProxyError {
  return new ProxyError(404, 'not_found', `No response found with id '${id}'.`);
}

/** The request's own input as items (what a later previous_response_id replays). */
const isUserMessage = (item: unknown): boolean =>
  typeof item === 'object' && item !== null && (item as Json).role === 'user' && ((item as Json).type === 'message' || (item as Json).type === undefined);

function inputItems(input: unknown): unknown[] {
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: input }] }];
  return Array.isArray(input) ? input : [];
}

/** POST /v1/responses, /backend-api/codex/responses */
export async function handleResponses(ctx: RequestContext): Promise<void> {
  const { raw, json } = await readJsonBody(ctx.req, ctx.snap.bodyLimitBytes);
  ctx.requestLog?.requestBody(raw);
  return respond(ctx, raw, json);
}

/** A Responses request whose body was read (also /v1/chat/completions bodies that carry `input`). */
export async function respond(ctx: RequestContext, raw: string, json: Json): Promise<void> {
  const pool = resolveRequestModel(ctx, json);
  const model = json.model as string;
  const store = responseStore(ctx.rt);
  const owner = ownerOf(ctx);
  const previous = previousResponseId(json);
  let history: unknown[] = [];
  // A codex-api-key upstream gets this very request (encrypted reasoning items, its own fields),
  // unless it continues a conversation only this gateway stored.
  let native: NativePlan | undefined = nativePlan('responses', raw, model, ctx.req.headers);
  if (previous !== undefined) {
    const found = store.history(owner, previous);
    if (found) native = undefined;
    // Unknown here: a response stored by a Responses upstream, which only it can continue.
    else if (pool.members.some((t) => t.provider.format === 'responses')) native = { ...native, only: true };
    else throw previousNotFound(previous);
    history = found ?? [];
  }
  const translated = native?.only ? { chat: { model, messages: [], stream: json.stream === true }, tools: new Map() } : toChat(json, model, history);
  // Codex's remote compaction: a chat upstream writes a summary (translate/responses/compaction.ts).
  const compaction = !native?.only && isCompactionRequest(json);
  const chat = compaction ? compactionChat(translated.chat) : translated.chat;
  const tools = translated.tools;
  const stream = chat.stream === true;
  const opts: ResponseOptions = {
    id: responseId(ctx.requestId),
    model,
    createdAt: Math.floor(Date.now() / 1000),
    tools,
    inputTokens: Math.ceil(raw.length / 4),
  };
  const keep = (response: ResponseObject | undefined) => {
    if (response && json.store !== false) store.put(owner, response, inputItems(json.input), previous);
  };
  const signal = clientSignal(ctx.res);
  const committed = await runChat(ctx, pool, chat, signal, native);
  if (committed.native) return relayNative(ctx, committed, pool.id, (e) => responsesFailedEvent(e, { id: opts.id, object: 'response', model }, 0));
  const headers = addRoutingHeaders(ctx, committed, ctx.headers);
  if (compaction) {
    if (!stream) {
      const { response, usage } = await compactionResponse(json, committed, signal, opts);
      ctx.info.usage = normalizeUsage(usage);
      keep(response);
      return sendJson(ctx, 200, response, headers);
    }
    // A summary of a long conversation takes a while: the stream opens at once and keeps alive,
    // so that nothing between Codex and cliproxy times out while the model writes.
    ctx.res.writeHead(200, Object.assign(headers, SSE_HEADERS));
    const shell = responseShell(json, opts);
    ctx.res.write(responseOpening(shell));
    const keepAlive = setInterval(() => ctx.res.write(KEEP_ALIVE), KEEP_ALIVE_MS);
    try {
      const { response, usage } = await compactionResponse(json, committed, signal, opts);
      ctx.info.usage = normalizeUsage(usage);
      keep(response);
      ctx.res.end(responseToEvents(response, true));
    } catch (err) {
      if (err instanceof ClientGone) throw err;
      ctx.res.end(responsesFailedEvent(toProxyError(err), shell, 2));
    } finally {
      clearInterval(keepAlive);
    }
    return;
  }
  if (committed.kind === 'stream') {
    ctx.res.writeHead(200, Object.assign(headers, SSE_HEADERS));
    ctx.res.flushHeaders();
    const mapper = streamToResponses({ ...opts, request: json, failedEvent: responsesFailedEvent, keepAliveMs: KEEP_ALIVE_MS });
    const tap = ctx.rt.observe.streamTap(ctx, false);
    const outcome = await relayStream(ctx.res, committed, { mapper, errorEvent: (e) => mapper.fail(e), tap });
    if (outcome === 'complete') keep(mapper.result());
    return;
  }
  const completion = parseCompletion(committed);
  ctx.info.usage = normalizeUsage(completion.usage);
  const response = toResponse(json, completion, opts);
  keep(response);
  if (!stream) return sendJson(ctx, 200, response, headers);
  // Asked for a stream, got a plain answer (the upstream ignores `stream`): send it as events.
  ctx.res.writeHead(200, Object.assign(headers, SSE_HEADERS));
  ctx.res.end(responseToEvents(response));
}

function methodNotAllowed(ctx: RequestContext, allowed: string): never {
  ctx.headers.allow = allowed;
  throw new ProxyError(405, 'method_not_allowed', `${ctx.req.method} is not allowed on ${ctx.path}; use ${allowed}`);
}

/** GET / DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items */
export function handleStoredResponse(ctx: RequestContext, rest: string): void {
  const slash = rest.indexOf('/');
  const id = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
  const store = responseStore(ctx.rt);
  const owner = ownerOf(ctx);
  if (slash >= 0) {
    if (rest.slice(slash) !== '/input_items') throw new ProxyError(404, 'not_found', `no such endpoint: ${ctx.req.method} ${ctx.path}`);
    if (ctx.req.method !== 'GET') methodNotAllowed(ctx, 'GET');
    const items = store.inputItems(owner, id);
    if (!items) throw responseNotFound(id);
    return sendJson(ctx, 200, inputItemsPage(items, id, ctx.query));
  }
  if (ctx.req.method === 'GET') {
    const response = store.get(owner, id);
    if (!response) throw responseNotFound(id);
    return sendJson(ctx, 200, response);
  }
  if (ctx.req.method === 'DELETE') {
    if (!store.delete(owner, id)) throw responseNotFound(id);
    return sendJson(ctx, 200, { id, object: 'response', deleted: true });
  }
  methodNotAllowed(ctx, 'GET, DELETE');
}

/**
 * A page of the items a response was given (its conversation before it, then its own input), as
 * OpenAI lists them: newest first unless `order=asc`, `limit` (1-100, default 20), `after` an id.
 * Items without an id (clients need not send one) get a stable one from their position.
 */
function inputItemsPage(items: readonly unknown[], responseId: string, query: URLSearchParams | undefined) {
  let data = items.map((item, i) => {
    const value = (typeof item === 'object' && item !== null ? item : { type: 'message', role: 'user', content: String(item) }) as Json;
    return typeof value.id === 'string' ? value : { id: `item_${responseId.slice(5)}_${i}`, ...value };
  });
  if (query?.get('order') !== 'asc') data.reverse();
  const after = query?.get('after');
  if (after) data = data.slice(data.findIndex((item) => item.id === after) + 1);
  const limit = Math.min(100, Math.max(1, Number(query?.get('limit')) || 20));
  const page = data.slice(0, limit);
  return { object: 'list', data: page, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null, has_more: data.length > limit };
}

/**
 * POST /v1/responses/compact (OpenAI's unary compaction, used by the SDKs' `responses.compact` and
 * older Codex versions): the conversation in, a `response.compaction` object out whose `output` is
 * the new history: the user's own messages, then one compaction item with the summary. cliproxy
 * writes it through the chat path for every upstream family.
 */
export async function handleCompact(ctx: RequestContext): Promise<void> {
  const { raw, json } = await readJsonBody(ctx.req, ctx.snap.bodyLimitBytes);
  ctx.requestLog?.requestBody(raw);
  const pool = resolveRequestModel(ctx, json);
  const model = json.model as string;
  const previous = previousResponseId(json);
  let history: unknown[] = [];
  if (previous !== undefined) {
    history = responseStore(ctx.rt).history(ownerOf(ctx), previous) ?? [];
    if (history.length === 0) throw previousNotFound(previous);
  }
  const { chat, tools } = toChat({ ...json, stream: false }, model, history);
  const opts: ResponseOptions = { id: responseId(ctx.requestId), model, createdAt: Math.floor(Date.now() / 1000), tools, inputTokens: Math.ceil(raw.length / 4) };
  const signal = clientSignal(ctx.res);
  const committed = await runChat(ctx, pool, compactionChat(chat), signal);
  const headers = addRoutingHeaders(ctx, committed, ctx.headers);
  const { response, usage } = await compactionResponse(json, committed, signal, opts);
  ctx.info.usage = normalizeUsage(usage);
  const kept = [...history, ...inputItems(json.input)].filter(isUserMessage);
  const compacted = { id: opts.id, object: 'response.compaction', created_at: opts.createdAt, output: [...kept, ...response.output], usage: response.usage };
  return sendJson(ctx, 200, compacted, headers);
}

/**
 * The answer to a compaction request from a chat upstream: one `compaction` item holding the
 * model's summary (nothing else: Codex wants exactly one). No summary is an upstream failure.
 */
async function compactionResponse(req: Json, committed: Committed, signal: ClientSignal, opts: ResponseOptions): Promise<{ response: ResponseObject; usage?: ChatUsage | null }> {
  const { text, usage } = await completionText(committed, signal);
  if (text.trim() === '') throw new ProxyError(502, 'upstream_invalid_response', `upstream ${committed.target.provider.name} wrote no summary to compact the conversation into`);
  const response = responseShell(req, opts);
  response.status = 'completed';
  response.output = [compactionItem(itemId('cmp', opts.id, 0), text.trim())];
  response.usage = usageOf(usage, opts.inputTokens, text.length);
  return { response, usage };
}
