/**
 * The model table derived from a config snapshot: every client-visible id (alias, or name when no
 * alias, with the provider's prefix) maps to a pool of targets. Everything a request needs per
 * target (URL, headers with the key) is computed here once, not per request.
 */
import type { Config, ModelConfig, ProviderConfig } from '../config/schema.js';
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
  /** Higher tiers are tried first (the entry's own, else the provider's, else 0). */
  readonly priority: number;
  /** Share under weighted-round-robin (default 1; 0 = never picked). */
  readonly weight: number;
  /** Failures do not cool this credential down (key, else provider, else global setting). */
  readonly disableCooling: boolean;
  /** Retry rounds this credential takes part in (its own request-retry); undefined = the global one. */
  readonly requestRetry?: number;
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

export const USER_AGENT = 'cliproxy';

export function effectiveProxy(own: string | undefined, global: string | undefined): string | undefined {
  const chosen = own ?? global;
  return chosen === undefined || chosen === 'direct' || chosen === 'none' ? undefined : chosen;
}

function buildProvider(p: ProviderConfig, config: Config): Provider {
  const globalProxy = config['proxy-url'];
  const baseHeaders: Record<string, string> = { 'user-agent': USER_AGENT };
  for (const [name, value] of Object.entries(p.headers)) baseHeaders[name.toLowerCase()] = value;
  baseHeaders['content-type'] = 'application/json';
  // A provider without keys still gets one credential: requests without Authorization (Ollama, vLLM).
  const entries = p['api-key-entries'].length > 0 ? p['api-key-entries'] : [{ 'api-key': undefined, 'proxy-url': undefined }];
  const providerCooling = p['disable-cooling'] ?? config['disable-cooling'];
  const credentials = entries.map((entry, index): Credential => {
    const apiKey = entry['api-key'];
    const proxyUrl = effectiveProxy(entry['proxy-url'], globalProxy);
    const headers = apiKey ? { ...baseHeaders, authorization: `Bearer ${apiKey}` } : { ...baseHeaders };
    return {
      id: `${p.name}#${index}`,
      index,
      apiKey,
      proxyUrl,
      headers,
      stateKey: `${p.name}\u0000${apiKey ?? ''}\u0000${proxyUrl ?? ''}`,
      priority: ('priority' in entry ? entry.priority : undefined) ?? p.priority ?? 0,
      weight: ('weight' in entry ? entry.weight : undefined) ?? 1,
      disableCooling: ('disable-cooling' in entry ? entry['disable-cooling'] : undefined) ?? providerCooling,
    };
  });
  const url = new URL(p['base-url']);
  return { name: p.name, format: 'openai', origin: url.origin, basePath: url.pathname.replace(/\/+$/, ''), credentials };
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

/** Builds the model table: prefixes, aliases, pools, exclusions and disabled providers applied. */
export function buildRegistry(config: Config, now = Date.now()): Registry {
  const sources: ProviderSource[] = [];
  for (const p of config['openai-compatibility']) {
    if (p.disabled) continue;
    sources.push({ provider: buildProvider(p, config), prefix: p.prefix, models: p.models, excluded: p['excluded-models'] });
  }
  sources.push(...buildNativeProviders(config));
  const pools = new Map<string, { id: string; ownedBy: string; members: Target[]; tiers: Tier[] }>();
  const list: Pool[] = [];
  for (const { provider, prefix, models, excluded: patterns, ownedBy } of sources) {
    const excluded = compileWildcards(patterns);
    for (const m of models) {
      const visible = m.alias ?? m.name;
      if (excluded(m.name) || excluded(visible)) continue;
      const id = prefix ? `${prefix}/${visible}` : visible;
      const lookup = id.toLowerCase();
      let pool = pools.get(lookup);
      if (!pool) {
        pool = { id, ownedBy: ownedBy ?? provider.name, members: [], tiers: [] };
        pools.set(lookup, pool);
        list.push(pool);
      }
      pool.members.push({
        provider,
        upstreamModel: m.name,
        forceMapping: m['force-mapping'],
        weight: m.weight ?? 1,
        key: `${provider.name}\u0000${m.name}`,
      });
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

/** Looks a client-visible model id up, case-insensitively. */
export function resolvePool(registry: Registry, model: string): Pool | undefined {
  return registry.pools.get(model.toLowerCase());
}
