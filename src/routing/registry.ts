/**
 * The model table derived from a config snapshot: every client-visible id (alias, or name when no
 * alias, with the provider's prefix) maps to a pool of targets. Everything a request needs per
 * target (URL, headers with the key) is computed here once, not per request.
 */
import { createHash } from 'node:crypto';
import type { Config, ModelConfig, ProviderConfig, RequestScopedErrorRule } from '../config/schema.js';
import type { UpstreamFormat } from '../upstream/families.js';
import { buildNativeProviders } from './native-providers.js';
import { compileWildcards } from './wildcard.js';

/** One upstream key of a provider (or the absence of one, for local servers). */
export interface Credential {
  /** `<provider>#<index>`: names the credential without revealing its key. */
  readonly id: string;
  readonly index: number;
  readonly apiKey: string | undefined;
  /** Effective proxy: the key's own, else the global one; undefined means direct. */
  readonly proxyUrl: string | undefined;
  /** Upstream request headers: provider headers, content-type, Authorization. Built once. */
  readonly headers: Readonly<Record<string, string>>;
  /** Stable across reloads while provider, key and proxy stay the same: keys balancer state. */
  readonly stateKey: string;
  /** A digest of stateKey: names the credential in shared state (Redis) without its key. */
  readonly stateId: string;
  /** Higher tiers are tried first (the entry's own, else the provider's, else 0). */
  readonly priority: number;
  /** Share under weighted-round-robin (default 1; 0 = never picked). */
  readonly weight: number;
  /** Failures do not cool this credential down (key, else provider, else global setting). */
  readonly disableCooling: boolean;
  /** Retry rounds this credential takes part in (its own request-retry, else the provider's); undefined = the global one. */
  readonly requestRetry?: number;
  /** `headers` values written `$Name`: [upstream header, client header (lower case)], copied per request. */
  readonly copiedHeaders?: readonly (readonly [string, string])[];
}

/** A request-scoped-errors rule with its patterns compiled. */
export interface ScopedErrorRule {
  readonly status: number;
  readonly match: readonly string[];
  readonly patterns: readonly RegExp[];
  readonly action: RequestScopedErrorRule['action'];
}

export interface Provider {
  readonly name: string;
  /** The API the upstream speaks: OpenAI chat for openai-compatibility, else the native family's. */
  readonly format: UpstreamFormat;
  /** `https://api.example.com` of base-url. */
  readonly origin: string;
  /** The path of base-url without a trailing slash (`/api/v1`); request paths are appended. */
  readonly basePath: string;
  readonly credentials: readonly Credential[];
  /** request-scoped-errors: checked before the built-in classification of an upstream error. */
  readonly scopedErrors?: readonly ScopedErrorRule[];
  /** Keep the client's prompt_cache_key or derive one per session. */
  readonly supportPromptCacheKey?: boolean;
}

/** One member of a pool: a provider's upstream model. */
export interface Target {
  readonly provider: Provider;
  readonly upstreamModel: string;
  readonly forceMapping: boolean;
  /** Share of the pool under weighted-round-robin (default 1). */
  readonly weight: number;
  /** Stable across reloads: keys the member's credential cursor. */
  readonly key: string;
  /** reasoning_effort levels as configured (`thinking.levels`); undefined = not configured. */
  readonly thinkingLevels?: readonly string[];
  /** Input modalities as configured; undefined = anything goes. */
  readonly inputModalities?: readonly string[];
}

/** A pool member with those of its credentials that belong to one priority tier. */
export interface TierMember {
  readonly target: Target;
  readonly credentials: readonly Credential[];
}

/** The candidates of one priority; tiers are tried from the highest priority down. */
export interface Tier {
  readonly priority: number;
  readonly members: readonly TierMember[];
}

export interface Pool {
  /** The client-visible id as configured (case kept). */
  readonly id: string;
  readonly ownedBy: string;
  /** Catalog facts of the first member that declares them (/v1/models). */
  readonly info?: ModelInfo;
  readonly members: readonly Target[];
  /** Members grouped by credential priority, highest first. */
  readonly tiers: readonly Tier[];
}

export interface Registry {
  /** Lower-cased client-visible id → pool. */
  readonly pools: ReadonlyMap<string, Pool>;
  /** Pools in config order, for /v1/models. */
  readonly list: readonly Pool[];
  /** Unix seconds at which this table was built (`created` in /v1/models). */
  readonly created: number;
}

export interface ModelInfo {
  readonly displayName?: string;
  readonly contextLength?: number;
  readonly inputModalities?: readonly string[];
  readonly outputModalities?: readonly string[];
}

/** Model lists found by discovery (GET <base-url>/models), by provider name. */
export type DiscoveredModels = ReadonlyMap<string, readonly string[]>;

export const USER_AGENT = 'cliproxy';

/** Negative or absent means "inherit". */
const retryOverride = (v: number | undefined): number | undefined => (v === undefined || v < 0 ? undefined : v);

/** Compiles request-scoped-errors rules (any provider family's). */
export function compileScopedErrors(rules: ProviderConfig['request-scoped-errors']): ScopedErrorRule[] {
  return (rules ?? [])
    .filter((r) => r.match.some((m) => m !== '') || r['match-regexr'].some((m) => m !== ''))
    .map((r) => ({ status: r.status, match: r.match.filter((m) => m !== ''), patterns: r['match-regexr'].filter((m) => m !== '').map((m) => new RegExp(m)), action: r.action }));
}

/** The provider's model entries: configured, or discovered (aliased by any configured entry of the same name). */
export function modelEntriesOf(p: ProviderConfig, discovered: DiscoveredModels | undefined): readonly ModelConfig[] {
  const listed = p.models ?? [];
  if (!discovers(p)) return listed;
  const found = discovered?.get(p.name);
  if (!found) return listed;
  const byName = new Map<string, ModelConfig[]>();
  for (const m of listed) byName.set(m.name, [...(byName.get(m.name) ?? []), m]);
  return found.flatMap((name) => byName.get(name) ?? [{ name, 'force-mapping': false }]);
}

/** A provider whose list comes from GET <base-url>/models. */
export const discovers = (p: ProviderConfig): boolean => p['discover-models'] ?? p.models === undefined;

export function effectiveProxy(own: string | undefined, global: string | undefined): string | undefined {
  const chosen = own ?? global;
  return chosen === undefined || chosen === 'direct' || chosen === 'none' ? undefined : chosen;
}

/**
 * Moves `headers` values written `$Name` out of the fixed headers: they copy the client's `Name`
 * header per request (omitted when the client sent none), as CLI Proxy API does.
 */
export function takeCopiedHeaders(headers: Record<string, string>): (readonly [string, string])[] {
  const copied: (readonly [string, string])[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (!value.startsWith('$') || value.length < 2) continue;
    delete headers[name];
    copied.push([name, value.slice(1).toLowerCase()]);
  }
  return copied;
}

/** A provider's runtime form: origin, credentials with their headers, switches. */
export function buildProvider(p: ProviderConfig, config: Config): Provider {
  const globalProxy = config['proxy-url'];
  const baseHeaders: Record<string, string> = { 'user-agent': USER_AGENT };
  for (const [name, value] of Object.entries(p.headers)) baseHeaders[name.toLowerCase()] = value;
  baseHeaders['content-type'] = 'application/json';
  // A provider without keys still gets one credential: requests without Authorization (Ollama, vLLM).
  const entries = p['api-key-entries'].length > 0 ? p['api-key-entries'] : [{ 'api-key': undefined, 'proxy-url': undefined }];
  const providerCooling = p['disable-cooling'] ?? config['disable-cooling'];
  const providerRetry = retryOverride(p['request-retry']);
  const copiedHeaders = takeCopiedHeaders(baseHeaders);
  const credentials = entries.map((entry, index): Credential => {
    const apiKey = entry['api-key'];
    const proxyUrl = effectiveProxy(entry['proxy-url'], globalProxy);
    const headers = apiKey ? { ...baseHeaders, authorization: `Bearer ${apiKey}` } : { ...baseHeaders };
    const stateKey = `${p.name}\u0000${apiKey ?? ''}\u0000${proxyUrl ?? ''}`;
    return {
      id: `${p.name}#${index}`,
      index,
      apiKey,
      proxyUrl,
      headers,
      stateKey,
      stateId: stateIdOf(stateKey),
      priority: ('priority' in entry ? entry.priority : undefined) ?? p.priority ?? 0,
      weight: ('weight' in entry ? entry.weight : undefined) ?? 1,
      disableCooling: ('disable-cooling' in entry ? entry['disable-cooling'] : undefined) ?? providerCooling,
      requestRetry: retryOverride('request-retry' in entry ? entry['request-retry'] : undefined) ?? providerRetry,
      copiedHeaders,
    };
  });
  const url = new URL(p['base-url']);
  return {
    name: p.name,
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ''),
    credentials,
    format: 'openai',
    scopedErrors: compileScopedErrors(p['request-scoped-errors']),
    supportPromptCacheKey: p['support-prompt-cache-key'] ?? false,
  };
}

function infoOf(m: ModelConfig): ModelInfo {
  return { displayName: m['display-name'], contextLength: m['max-context-length'], inputModalities: m['input-modalities'], outputModalities: m['output-modalities'] };
}

function mergeInfo(a: ModelInfo, b: ModelInfo): ModelInfo {
  return {
    displayName: a.displayName ?? b.displayName,
    contextLength: a.contextLength ?? b.contextLength,
    inputModalities: a.inputModalities ?? b.inputModalities,
    outputModalities: a.outputModalities ?? b.outputModalities,
  };
}

/** A provider as the model table sees it: the provider, its model list and its exclusions. */
export interface ProviderSource {
  readonly provider: Provider;
  readonly prefix: string | undefined;
  readonly models: readonly ModelConfig[];
  readonly excluded: readonly string[];
  /** `owned_by` in /v1/models (the provider's name unless set). */
  readonly ownedBy?: string;
}

/** A credential's name in shared state (Redis): a digest of its state key, never the key itself. */
export const stateIdOf = (stateKey: string): string => createHash('sha256').update(stateKey).digest('base64url').slice(0, 22);

/** Builds the model table: prefixes, aliases, pools, exclusions, discovered lists and disabled providers applied. */
export function buildRegistry(config: Config, now = Date.now(), discovered?: DiscoveredModels): Registry {
  const sources: ProviderSource[] = [];
  for (const p of config['openai-compatibility']) {
    if (p.disabled) continue;
    sources.push({ provider: buildProvider(p, config), prefix: p.prefix, models: modelEntriesOf(p, discovered), excluded: p['excluded-models'] });
  }
  sources.push(...buildNativeProviders(config));
  const pools = new Map<string, { id: string; ownedBy: string; info: ModelInfo; members: Target[]; tiers: Tier[] }>();
  const list: Pool[] = [];
  const addMember = (id: string, ownedBy: string, info: ModelInfo, target: Target) => {
    const lookup = id.toLowerCase();
    let pool = pools.get(lookup);
    if (!pool) {
      pool = { id, ownedBy, info, members: [], tiers: [] };
      pools.set(lookup, pool);
      list.push(pool);
    } else pool.info = mergeInfo(pool.info, info);
    pool.members.push(target);
  };
  // The seed's rule (a prefixed provider answers only as prefix/alias) unless explicitly false.
  const alsoPlain = config['force-model-prefix'] === false;
  for (const { provider, prefix, models, excluded: patterns, ownedBy } of sources) {
    const excluded = compileWildcards(patterns);
    for (const m of models) {
      const visible = m.alias ?? m.name;
      if (excluded(m.name) || excluded(visible)) continue;
      const target: Target = {
        provider,
        upstreamModel: m.name,
        forceMapping: m['force-mapping'],
        weight: m.weight ?? 1,
        key: `${provider.name}\u0000${m.name}`,
        thinkingLevels: m.thinking ? (m.thinking.levels ?? []) : undefined,
        inputModalities: m['input-modalities'],
      };
      const info = infoOf(m);
      addMember(prefix ? `${prefix}/${visible}` : visible, ownedBy ?? provider.name, info, target);
      if (prefix && alsoPlain) addMember(visible, ownedBy ?? provider.name, info, target);
    }
  }
  for (const pool of pools.values()) pool.tiers = buildTiers(pool.members);
  return { pools, list, created: Math.floor(now / 1000) };
}

function buildTiers(members: readonly Target[]): Tier[] {
  const priorities = new Set<number>();
  for (const t of members) for (const c of t.provider.credentials) priorities.add(c.priority);
  return [...priorities]
    .sort((a, b) => b - a)
    .map((priority) => ({
      priority,
      members: members
        .map((target) => ({ target, credentials: target.provider.credentials.filter((c) => c.priority === priority) }))
        .filter((m) => m.credentials.length > 0),
    }));
}

/**
 * Looks a client-visible model id up, case-insensitively. `alias(high)` / `alias(8192)` (a thinking
 * suffix) resolves to `alias` unless a model is literally named so.
 */
export function resolvePool(registry: Registry, model: string): Pool | undefined {
  const exact = registry.pools.get(model.toLowerCase());
  if (exact || !model.endsWith(')')) return exact;
  const open = model.lastIndexOf('(');
  return open > 0 ? registry.pools.get(model.slice(0, open).toLowerCase()) : undefined;
}
