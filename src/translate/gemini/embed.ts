/**
 * Gemini embeddings ⇄ OpenAI /embeddings, as pure functions. `:embedContent` embeds one content,
 * `:batchEmbedContents` several (the @google/genai SDKs always send the batch form); both become
 * one /embeddings request whose `input` lists the contents' text. `taskType` and `title` have no
 * OpenAI equivalent and are dropped; `outputDimensionality` becomes `dimensions`.
 */
import { ProxyError, badRequest } from '../../errors.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface EmbeddingsRequest {
  /** First key on purpose: the per-target rename finds it without scanning the body. */
  model: string;
  input: string[];
  dimensions?: number;
}

/** A content's text parts, joined (an embedding model reads text only). */
function contentText(content: unknown, path: string): string {
  if (!isObject(content) || !Array.isArray(content.parts)) throw badRequest(`${path}: must be a content with parts`, 'invalid_request');
  return content.parts
    .filter((p): p is Json => isObject(p) && typeof p.text === 'string')
    .map((p) => p.text as string)
    .join('\n');
}

function dimensions(req: Json): number | undefined {
  const d = req.outputDimensionality ?? req.output_dimensionality;
  return typeof d === 'number' && Number.isInteger(d) && d > 0 ? d : undefined;
}

/** An embedContent (batch: batchEmbedContents) request as an OpenAI embeddings request for `model`. */
export function toEmbeddings(req: Json, model: string, batch: boolean): EmbeddingsRequest {
  const items: Json[] = batch ? (Array.isArray(req.requests) ? req.requests : []) : [req];
  if (batch && !Array.isArray(req.requests)) throw badRequest('requests: must be an array', 'invalid_request');
  const out: EmbeddingsRequest = {
    model,
    input: items.map((item, i) => contentText(isObject(item) ? item.content : undefined, batch ? `requests[${i}].content` : 'content')),
  };
  const dims = items.length > 0 && isObject(items[0]) ? dimensions(items[0]) : undefined;
  if (dims) out.dimensions = dims;
  return out;
}

interface EmbeddingsAnswer {
  data?: Array<{ index?: number; embedding?: unknown }>;
}

/** An OpenAI embeddings answer as `{embedding}` (batch: `{embeddings: [...]}`), in input order. */
export function fromEmbeddings(res: EmbeddingsAnswer, batch: boolean, count: number): Json {
  const data = Array.isArray(res.data) ? res.data : [];
  const values: number[][] = new Array(count);
  data.forEach((d, i) => {
    const at = typeof d.index === 'number' ? d.index : i;
    if (Array.isArray(d.embedding) && at >= 0 && at < count) values[at] = d.embedding as number[];
  });
  for (let i = 0; i < count; i++) {
    if (!values[i]) throw new ProxyError(502, 'upstream_invalid_response', `upstream answer has no embedding for input ${i}`);
  }
  return batch ? { embeddings: values.map((v) => ({ values: v })) } : { embedding: { values: values[0] } };
}
