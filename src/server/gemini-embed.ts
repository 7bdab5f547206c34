/**
 * POST /v1beta/models/{model}:embedContent and :batchEmbedContents: translated to one OpenAI
 * /embeddings request, run through the attempt loop like every other request, and answered in
 * Google's shape (translate/gemini/embed.ts).
 */
import { ProxyError, UpstreamReply } from '../errors.js';
import { execute } from '../execute.js';
import type { Pool, Target } from '../routing/registry.js';
import { fromEmbeddings, toEmbeddings } from '../translate/gemini/index.js';
import { normalizeUsage } from '../observe/usage.js';
import { renameModel } from '../upstream/rewrite.js';
import { readJsonBody } from './body.js';
import { clientSignal, sendJson, type RequestContext } from './context.js';
import { routingHeaders } from './openai.js';

export async function embed(ctx: RequestContext, pool: Pool, model: string, batch: boolean): Promise<void> {
  const { raw, json } = await readJsonBody(ctx.req, ctx.snap.bodyLimitBytes);
  ctx.requestLog?.requestBody(raw);
  const request = toEmbeddings(json, model, batch);
  const text = JSON.stringify(request);
  const body = (target: Target) => (target.upstreamModel === model ? text : renameModel(text, target.upstreamModel));
  const committed = await execute(ctx.rt, ctx.snap, { pool, path: '/embeddings', stream: false, body, signal: clientSignal(ctx.res), timing: ctx.timing });
  const headers = routingHeaders(ctx, committed);
  if (committed.kind !== 'body') {
    committed.abort();
    throw new ProxyError(502, 'upstream_invalid_response', `upstream ${committed.target.provider.name} answered an embeddings request with a stream`);
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(committed.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new ProxyError(502, 'upstream_invalid_response', `upstream ${committed.target.provider.name} did not answer with JSON`);
  }
  // Some providers answer 200 with an error object.
  if (parsed.error) throw new UpstreamReply(502, committed.body, 'application/json');
  ctx.info.usage = normalizeUsage(parsed.usage);
  sendJson(ctx, 200, fromEmbeddings(parsed, batch, request.input.length), { ...ctx.headers, ...headers });
}
