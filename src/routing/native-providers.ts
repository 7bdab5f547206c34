/**
 * `claude-api-key`, `gemini-api-key` and `codex-api-key` entries as providers of the model table.
 * Each entry is one key with its own endpoint and models (CLI Proxy API's shape), so it becomes a
 * provider with one credential, named after its place in the file: `claude-api-key[0]`.
 */
import type { Config, NativeKeyConfig } from '../config/schema.js';
import { FAMILIES, type Family } from '../upstream/families.js';
import { compileScopedErrors, effectiveProxy, stateIdOf, takeCopiedHeaders, USER_AGENT, type Credential, type Provider, type ProviderSource } from './registry.js';

const OWNER: Record<Family['format'], string> = { openai: 'openai', anthropic: 'anthropic', gemini: 'google', responses: 'openai' };

function buildProvider(family: Family, entry: NativeKeyConfig, index: number, config: Config): Provider | undefined {
  const baseUrl = entry['base-url'] ?? family.defaultBaseUrl;
  if (!baseUrl) return undefined; // codex without base-url: the schema already refused it
  const url = new URL(baseUrl);
  const name = `${family.configKey}[${index}]`;
  const apiKey = entry['api-key'];
  const proxyUrl = effectiveProxy(entry['proxy-url'], config['proxy-url']);
  const headers: Record<string, string> = { 'user-agent': USER_AGENT };
  for (const [header, value] of Object.entries(family.authHeaders(apiKey, url))) headers[header] = value;
  // Configured headers win over the defaults (a gateway may want its own anthropic-version or auth).
  for (const [header, value] of Object.entries(entry.headers)) headers[header.toLowerCase()] = value;
  headers['content-type'] = 'application/json';
  const copiedHeaders = takeCopiedHeaders(headers);
  const credential: Credential = {
    id: `${name}#0`,
    index: 0,
    apiKey,
    proxyUrl,
    headers,
    // Keyed by what the key is, not where it sits in the list: reordering keeps its cooldowns.
    stateKey: `${family.configKey}\u0000${url.href}\u0000${apiKey ?? ''}\u0000${proxyUrl ?? ''}`,
    stateId: stateIdOf(`${family.configKey}\u0000${url.href}\u0000${apiKey ?? ''}\u0000${proxyUrl ?? ''}`),
    priority: entry.priority ?? 0,
    weight: entry.weight ?? 1,
    disableCooling: entry['disable-cooling'] ?? config['disable-cooling'],
    requestRetry: entry['request-retry'] !== undefined && entry['request-retry'] >= 0 ? entry['request-retry'] : undefined,
    copiedHeaders,
  };
  return {
    name,
    format: family.format,
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ''),
    credentials: [credential],
    scopedErrors: compileScopedErrors(entry['request-scoped-errors']),
  };
}

/** Every native key entry as a provider source, in file order (claude, gemini, codex). */
export function buildNativeProviders(config: Config): ProviderSource[] {
  const sources: ProviderSource[] = [];
  for (const family of FAMILIES) {
    config[family.configKey].forEach((entry, index) => {
      const provider = buildProvider(family, entry, index, config);
      if (!provider) return;
      // An entry without models serves the family's catalog (as CLI Proxy API does for claude and gemini).
      const models = entry.models.length > 0 ? entry.models : family.catalog.map((name) => ({ name, 'force-mapping': false }));
      sources.push({ provider, prefix: entry.prefix, models, excluded: entry['excluded-models'], ownedBy: OWNER[family.format] });
    });
  }
  return sources;
}
