/**
 * The last step before an upstream body is sent, per attempt target: payload rules, the thinking
 * suffix and levels, input modalities, prompt_cache_key. Each step first says from the facts
 * (model, target, a cheap text scan) whether it has anything to do; only then is the body parsed,
 * once, and serialised once. A pass-through request that no step concerns costs no parse.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Json } from '../config/json-path.js';
import { findTopLevelString } from '../upstream/rewrite.js';
import { sessionKeyOf } from './affinity.js';
import type { PayloadFacts, PayloadRules } from './payload.js';
import type { Registry, Target } from './registry.js';
import { DEFAULT_LEVELS, clampLevel, effortFor, parseThinkingValue, splitSuffix, type ThinkingRequest } from './thinking.js';

/** The client's API, as payload rules' `from-protocol` names it. */
export type ClientProtocol = 'openai' | 'responses' | 'claude' | 'gemini';

/** What the request looked like on arrival (set by client handlers on the ExecutePlan). */
export interface RequestFacts {
  /** The model as the client named it (prefix and thinking suffix included). */
  readonly model: string;
  readonly from: ClientProtocol;
  readonly headers: IncomingHttpHeaders;
}

export interface ShapeContext {
  readonly registry: Registry;
  readonly payload: PayloadRules | undefined;
}

type Doc = Record<string, Json>;

/** CLI Proxy API's protocol names for upstream formats (payload rules' `protocol`). */
const PROTOCOL_NAMES: Record<string, string> = { anthropic: 'claude', responses: 'codex' };
const protocolOf = (format: string) => PROTOCOL_NAMES[format] ?? format;

/** The thinking request a suffixed model name carries (`alias(high)`), unless a model is named so. */
function suffixThinking(registry: Registry, model: string): ThinkingRequest | undefined {
  const suffix = splitSuffix(model);
  if (!suffix || registry.pools.has(model.toLowerCase())) return undefined;
  return parseThinkingValue(suffix.raw);
}

/** A configured `thinking.levels` that the client's own reasoning_effort must be clamped to. */
function needsEffortClamp(target: Target, text: string): boolean {
  const levels = target.thinkingLevels;
  if (!levels) return false;
  const span = findTopLevelString(text, 'reasoning_effort');
  if (!span) return false;
  const value = text.slice(span[0] + 1, span[1] - 1);
  return levels.length === 0 || !levels.includes(value);
}

const MEDIA_PARTS: ReadonlyArray<readonly [string, string]> = [
  ['image_url', 'image'],
  ['input_image', 'image'],
  ['input_audio', 'audio'],
];

/** Part types this target cannot take; empty when the text mentions none of them. */
function unsupportedParts(target: Target, text: string): string[] {
  const accepted = target.inputModalities;
  if (!accepted) return [];
  return MEDIA_PARTS.filter(([type, modality]) => !accepted.includes(modality) && text.includes(`"${type}"`)).map(([type]) => type);
}

/** Replaces media parts a text-only model would reject with a short text note. */
function replaceParts(doc: Doc, types: readonly string[]): void {
  const messages = doc.messages;
  if (!Array.isArray(messages)) return;
  for (const message of messages) {
    if (typeof message !== 'object' || message === null || Array.isArray(message) || !Array.isArray(message.content)) continue;
    message.content = message.content.map((part) => {
      const type = typeof part === 'object' && part !== null && !Array.isArray(part) ? part.type : undefined;
      if (typeof type !== 'string' || !types.includes(type)) return part;
      const what = type === 'input_audio' ? 'audio' : 'image';
      return { type: 'text', text: `[${what} omitted: this model accepts text only]` };
    });
  }
}

/** The client's prompt_cache_key, else one derived from provider, model, client API and session. */
function promptCacheKey(doc: Doc, target: Target, request: RequestFacts | undefined): string | undefined {
  if (typeof doc.prompt_cache_key === 'string' && doc.prompt_cache_key.trim() !== '') return undefined;
  const headers = request?.headers ?? {};
  const claudeSession = headers['x-claude-code-session-id'];
  const session = typeof claudeSession === 'string' && claudeSession ? `id:${claudeSession}` : sessionKeyOf(doc, headers);
  if (!session) return undefined;
  const identity = ['cliproxy:prompt-cache', target.provider.name.toLowerCase(), target.upstreamModel.toLowerCase(), request?.from ?? 'openai', session].join('\u0000');
  const h = createHash('sha1').update(identity).digest('hex');
  // Shaped as a UUID (version 5 bits), as CLI Proxy API's keys are.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Upstream paths that carry a conversation (thinking, media parts, prompt caching apply). */
const CONVERSATION_PATHS = new Set(['/chat/completions', '/responses']);

/**
 * The body to send to `target` at `path`: `body` unchanged unless some step applies. Payload
 * rules apply on every path; thinking, modalities and prompt_cache_key on conversations only.
 */
export function shapeBody(ctx: ShapeContext, target: Target, path: string, body: string | Buffer, request: RequestFacts | undefined, payload = true): string | Buffer {
  const conversation = CONVERSATION_PATHS.has(path);
  const thinking = request && conversation ? suffixThinking(ctx.registry, request.model) : undefined;
  const facts: PayloadFacts = { upstreamModel: target.upstreamModel, requestedModel: request?.model, protocol: protocolOf(target.provider.format), fromProtocol: request?.from, headers: request?.headers };
  const rules = payload && ctx.payload?.mayApply(facts) ? ctx.payload : undefined;
  const cacheKey = conversation && target.provider.supportPromptCacheKey === true;
  const needsText = conversation && (target.thinkingLevels !== undefined || target.inputModalities !== undefined);
  if (!thinking && !rules && !cacheKey && !needsText) return body;
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const clamp = conversation && needsEffortClamp(target, text);
  const parts = conversation ? unsupportedParts(target, text) : [];
  if (!thinking && !rules && !cacheKey && !clamp && parts.length === 0) return body;

  let doc: Doc;
  try {
    const parsed = JSON.parse(text) as Json;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return body;
    doc = parsed;
  } catch {
    return body;
  }
  // Defaults look at the client's own body: a suffix counts as the client having chosen.
  rules?.applyDefaults(doc, facts);
  const levels = target.thinkingLevels ?? DEFAULT_LEVELS;
  if (thinking) {
    const effort = effortFor(thinking, levels);
    if (effort === undefined) delete doc.reasoning_effort;
    else doc.reasoning_effort = effort;
  } else if (clamp) {
    if (levels.length === 0) delete doc.reasoning_effort;
    else if (typeof doc.reasoning_effort === 'string') doc.reasoning_effort = clampLevel(doc.reasoning_effort, levels);
  }
  if (parts.length > 0) replaceParts(doc, parts);
  if (cacheKey) {
    const key = promptCacheKey(doc, target, request);
    if (key) doc.prompt_cache_key = key;
  }
  rules?.applyOverrides(doc, facts);
  return JSON.stringify(doc);
}
