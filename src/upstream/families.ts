/**
 * The upstream families: what differs between an OpenAI-compatible endpoint, Anthropic's Messages
 * API, Google's Gemini API and OpenAI's Responses API, as data. The registry uses it to build each
 * credential's headers once; the attempt loop uses it for the request path. Defaults and paths are
 * CLI Proxy API's, so a config.yaml written for it reaches the same URLs.
 */
import type { NativeKey } from '../config/schema.js';

/** The wire format an upstream speaks. */
export type UpstreamFormat = 'openai' | 'anthropic' | 'gemini' | 'responses';

export interface Family {
  readonly format: UpstreamFormat;
  /** Provider name stem: entries are named `claude-api-key[0]`, `claude-api-key[1]`, ... */
  readonly configKey: NativeKey;
  /** base-url when an entry has none (undefined: base-url is required). */
  readonly defaultBaseUrl?: string;
  /** Headers that carry the key (and the API version), for an upstream at `baseUrl`. */
  authHeaders(apiKey: string | undefined, baseUrl: URL): Record<string, string>;
  /** Path below base-url of a generation request. */
  path(model: string, stream: boolean): string;
  /** Models served when an entry lists none (CLI Proxy API's built-in catalog); [] = none. */
  readonly catalog: readonly string[];
}

/** https://docs.anthropic.com/en/api/versioning: the one stable version of the Messages API. */
export const ANTHROPIC_VERSION = '2023-06-01';

const ANTHROPIC_HOST = 'api.anthropic.com';

const claude: Family = {
  format: 'anthropic',
  configKey: 'claude-api-key',
  defaultBaseUrl: `https://${ANTHROPIC_HOST}`,
  authHeaders(apiKey, baseUrl) {
    const headers: Record<string, string> = { 'anthropic-version': ANTHROPIC_VERSION };
    if (!apiKey) return headers;
    headers['x-api-key'] = apiKey;
    // Anthropic-compatible gateways (Kimi, DeepSeek, OpenRouter, corporate proxies) differ in which
    // header they read; CLI Proxy API sends Bearer to them. Anthropic itself gets x-api-key only.
    if (baseUrl.hostname !== ANTHROPIC_HOST) headers.authorization = `Bearer ${apiKey}`;
    return headers;
  },
  path: () => '/v1/messages',
  catalog: [
    'claude-opus-4-1-20250805',
    'claude-opus-4-20250514',
    'claude-sonnet-4-5-20250929',
    'claude-sonnet-4-20250514',
    'claude-haiku-4-5-20251001',
    'claude-opus-4-5-20251101',
    'claude-3-7-sonnet-20250219',
    'claude-3-5-haiku-20241022',
  ],
};

const gemini: Family = {
  format: 'gemini',
  configKey: 'gemini-api-key',
  defaultBaseUrl: 'https://generativelanguage.googleapis.com',
  authHeaders: (apiKey): Record<string, string> => (apiKey ? { 'x-goog-api-key': apiKey } : {}),
  // The model is part of the path; `alt=sse` makes the stream Server-Sent Events instead of a JSON array.
  path: (model, stream) =>
    `/v1beta/models/${encodeURIComponent(model)}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`,
  catalog: ['gemini-2.5-pro', 'gemini-2.5-flash', 'gemini-2.5-flash-lite', 'gemini-3-pro-preview', 'gemini-3-flash-preview'],
};

const codex: Family = {
  format: 'responses',
  configKey: 'codex-api-key',
  authHeaders: (apiKey): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
  path: () => '/responses',
  catalog: [],
};

/** The native families, in config order. */
export const FAMILIES: readonly Family[] = [claude, gemini, codex];

/** The path of a generation request to an upstream of `format` (`/chat/completions` for OpenAI). */
export function generationPath(format: UpstreamFormat, model: string, stream: boolean): string {
  switch (format) {
    case 'anthropic':
      return claude.path(model, stream);
    case 'gemini':
      return gemini.path(model, stream);
    case 'responses':
      return codex.path(model, stream);
    default:
      return '/chat/completions';
  }
}
