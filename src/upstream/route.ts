/**
 * How one attempt reaches its target: the path, body and extra headers for the target's format,
 * and whether its answer must be turned into chat form. Three cases:
 * - an OpenAI-compatible target gets the plan's own path and body (model renamed);
 * - a target that speaks the client's API (plan.native) gets the client's request as is;
 * - any other native target gets the chat request translated, and its answer translated back.
 */
import type { Committed, ExecutePlan } from '../execute.js';
import type { Target } from '../routing/registry.js';
import type { Json } from '../translate/chat/upstream-common.js';
import { chatBodyFrom, chatRequestFor, chatStreamFrom, type NativeFormat } from './conversion.js';
import { generationPath } from './families.js';

/** The client's request in its own format, for upstreams of that format. */
export interface NativePlan {
  readonly format: NativeFormat;
  /** The request body for a target (model renamed). */
  body(target: Target): string | Buffer;
  /** Client headers the upstream must see (anthropic-beta, anthropic-version). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Only upstreams of this format can serve the request (it has no chat form). */
  readonly only?: boolean;
}

export interface Route {
  readonly path: string;
  readonly body: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
  /** Set when the answer comes in this format and must be converted to chat. */
  readonly convert?: NativeFormat;
  /** The answer is the upstream's own, in plan.native.format. */
  readonly native?: boolean;
}

const CHAT_PATH = '/chat/completions';

/** Native targets answer generation requests only (no /completions or /embeddings). */
export function canServe(plan: ExecutePlan, target: Target): boolean {
  const format = target.provider.format;
  if (plan.native?.only) return plan.native.format === format;
  return format === 'openai' || plan.path === CHAT_PATH || plan.native?.format === format;
}

/**
 * Adjusts an upstream body before it is sent (routing/shape.ts): payload rules, and on chat and
 * Responses paths thinking, modalities and prompt_cache_key. `payload: false` skips the rules.
 */
export type ShapeBody = (body: string | Buffer, path: string, payload?: boolean) => string | Buffer;

export function routeFor(plan: ExecutePlan, target: Target, shape: ShapeBody): Route {
  const format = target.provider.format;
  if (format === 'openai') return { path: plan.path, body: shape(plan.body(target), plan.path) };
  const path = generationPath(format, target.upstreamModel, plan.stream);
  // The client's own body in the vendor's format: payload rules only (no chat-shaped steps).
  if (plan.native?.format === format) return { path, body: shape(plan.native.body(target), ''), headers: plan.native.headers, native: true };
  // Translated: chat-shaped steps on the hub's chat body, then the vendor's format; payload rules
  // last, on the body the vendor receives (their paths name its fields, as in CLI Proxy API).
  const body = plan.body(target);
  const shaped = shape(body, plan.path, false);
  const chat = shaped === body && plan.chat ? plan.chat : (JSON.parse(shaped.toString()) as Json);
  return { path, body: shape(chatRequestFor(format, chat, target.upstreamModel), ''), convert: format };
}

/** A committed native answer in chat form (a completion body, or a stream of chat chunks). */
export function committedAsChat(format: NativeFormat, committed: Committed, target: Target): Committed {
  if (committed.kind === 'body') {
    return { ...committed, headers: { ...committed.headers, 'content-type': 'application/json' }, body: chatBodyFrom(format, committed.body, target.upstreamModel) };
  }
  return { ...committed, ...chatStreamFrom(format, committed, target.upstreamModel) };
}
