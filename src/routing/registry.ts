/**
 * The model table derived from a config snapshot: every client-visible id (alias, or name when no
 * alias, with the provider's prefix) maps to a pool of targets. Everything a request needs per
 * target (URL, headers with the key) is computed here once, not per request.
 */
import { createHash } from 'node:crypto';
import type { Config, ProviderConfig } from '../config/schema.js';
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
}

export interface Provider {
  readonly name: string;
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

const USER_AGENT = 'cliproxy';

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
    const stateKey = `${p.name}\u0000${apiKey ?? ''}\u0000${proxyUrl ?? ''}`;
    return {
      id: `${p.name}#${index}`,
      index,
      apiKey,
      proxyUrl,
      headers,
      stateKey,
      stateId: createHash('sha256').update(stateKey).digest('base64url').slice(0, 22),
      priority: ('priority' in entry ? entry.priority : undefined) ?? p.priority ?? 0,
      weight: ('weight' in entry ? entry.weight : undefined) ?? 1,
      disableCooling: ('disable-cooling' in entry ? entry['disable-cooling'] : undefined) ?? providerCooling,
    };
  });
  const url = new URL(p['base-url']);
  return { name: p.name, origin: url.origin, basePath: url.pathname.replace(/\/+$/, ''), credentials };
}

/** Builds the model table: prefixes, aliases, pools, exclusions and disabled providers applied. */
export function buildRegistry(config: Config, now = Date.now()): Registry {
  const pools = new Map<string, { id: string; ownedBy: string; members: Target[]; tiers: Tier[] }>();
  const list: Pool[] = [];
  for (const p of config['openai-compatibility']) {
    if (p.disabled) continue;
    const excluded = compileWildcards(p['excluded-models']);
    const provider = buildProvider(p, config);
    for (const m of p.models) {
      const visible = m.alias ?? m.name;
      if (excluded(m.name) || excluded(visible)) continue;
      const id = p.prefix ? `${p.prefix}/${visible}` : visible;
      const lookup = id.toLowerCase();
      let pool = pools.get(lookup);
      if (!pool) {
        pool = { id, ownedBy: p.name, members: [], tiers: [] };
        pools.set(lookup, pool);
        list.push(pool);
      }
      pool.members.push({
        provider,
        upstreamModel: m.name,
        forceMapping: m['force-mapping'],
        weight: m.weight ?? 1,
        key: `${p.name}\u0000${m.name}`,
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
