/**
 * The zod schema of config.yaml. Keys are kebab-case, exactly as CLI Proxy API writes them, so an
 * existing file works unchanged; the parsed Config keeps those names (it is also what the management
 * API returns and writes back). Defaults are filled here and nowhere else.
 */
import { z } from 'zod';

/** CLI Proxy API writes `proxy-url: ""` and `secret-key: ""` for "not set". */
const unsetIfEmpty = (v: unknown) => (v === '' || v === null ? undefined : v);

const PROXY_SCHEMES = new Set(['http:', 'https:', 'socks5:', 'socks5h:']);
export const PROXY_URL_HINT = 'expected http, https, socks5, socks5h URL or "direct"';

/** `direct`/`none` bypass the global proxy for one key; anything else must be a proxy URL. */
export function isValidProxyUrl(value: string): boolean {
  if (value === 'direct' || value === 'none') return true;
  try {
    const url = new URL(value);
    return PROXY_SCHEMES.has(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
}

const proxyUrl = z.preprocess(
  unsetIfEmpty,
  z.string().refine(isValidProxyUrl, { message: PROXY_URL_HINT }).optional(),
);

const baseUrl = z
  .string({ error: 'expected an http(s) URL' })
  .refine(
    (v) => {
      try {
        const u = new URL(v);
        return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
      } catch {
        return false;
      }
    },
    { message: 'expected an http(s) URL such as https://api.example.com/v1' },
  );

const seconds = (fallback: number) => z.number().positive().default(fallback);
const count = (fallback: number) => z.number().int().min(0).default(fallback);

/** Routing knobs are optional in the parsed config (defaults live in routing/), so a
 * management round-trip does not write `priority: 0` into every entry. */
const priority = z.number().int().optional();
const weight = z.number().min(0).optional();
const disableCooling = z.boolean().optional();

export const apiKeyEntrySchema = z.object({
  'api-key': z.preprocess(unsetIfEmpty, z.string().optional()),
  'proxy-url': proxyUrl,
  priority,
  weight,
  'disable-cooling': disableCooling,
});

export const STRATEGIES = ['round-robin', 'fill-first', 'weighted-round-robin'] as const;
export type Strategy = (typeof STRATEGIES)[number];
const STRATEGY_ALIASES: Record<string, Strategy> = { rr: 'round-robin', ff: 'fill-first', wrr: 'weighted-round-robin' };

/** `round-robin`, `fill-first`, `weighted-round-robin`, or the short `rr`, `ff`, `wrr`. */
export const strategySchema = z.preprocess(
  (v) => (typeof v === 'string' ? (STRATEGY_ALIASES[v.trim().toLowerCase()] ?? v.trim().toLowerCase()) : v),
  z.enum(STRATEGIES, { error: 'expected round-robin, fill-first or weighted-round-robin (rr, ff, wrr)' }),
);

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** `90s`, `30m`, `1h`, `1h30m` or a number of seconds → seconds; undefined if malformed. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(n) * DURATION_UNITS[unit!]!;
  return total;
}

const duration = (fallback: number) =>
  z.preprocess(
    (v) => (v === undefined || v === '' ? fallback : (parseDuration(v) ?? v)),
    z.number({ error: 'expected a duration such as 90s, 30m, 1h, or a number of seconds' }).min(0),
  );

export const modelSchema = z.object({
  name: z.string().min(1),
  alias: z.preprocess(unsetIfEmpty, z.string().optional()),
  'force-mapping': z.boolean().default(false),
  /** Share of this pool member under weighted-round-robin (default 1, 0 = never picked). */
  weight,
});

export const providerSchema = z
  .object({
    name: z.string().min(1),
    prefix: z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .regex(/^[^/\s]+$/, { message: 'expected a prefix without "/" or spaces, e.g. "or"' })
        .optional(),
    ),
    disabled: z.boolean().default(false),
    priority,
    'disable-cooling': disableCooling,
    'base-url': baseUrl,
    headers: z.record(z.string(), z.coerce.string()).default({}),
    'api-key-entries': z.array(apiKeyEntrySchema).default([]),
    /** Older CLI Proxy API files list plain keys here; they become api-key-entries. */
    'api-keys': z.array(z.string()).optional(),
    models: z.array(modelSchema).default([]),
    'excluded-models': z.array(z.string()).default([]),
  })
  .transform(({ 'api-keys': legacyKeys, ...provider }) => {
    if (!legacyKeys?.length) return provider;
    const entries = [...provider['api-key-entries'], ...legacyKeys.map((k) => ({ 'api-key': k, 'proxy-url': undefined }))];
    return { ...provider, 'api-key-entries': entries };
  });

export const configSchema = z.object({
  host: z.preprocess(unsetIfEmpty, z.string().optional()),
  port: z.number().int().min(0).max(65535).default(8317),
  'api-keys': z.array(z.string().min(1)).default([]),
  debug: z.boolean().default(false),
  'proxy-url': proxyUrl,
  'request-retry': count(3),
  'max-retry-credentials': count(0),
  'max-retry-interval': z.number().min(0).default(30),
  'body-limit-mb': z.number().positive().default(20),
  'remote-management': z
    .object({
      'secret-key': z.preprocess(unsetIfEmpty, z.string().optional()),
      'allow-remote': z.boolean().default(false),
      /** The Management Center at /management.html (server/panel.ts): off → 404. */
      'disable-control-panel': z.boolean().default(false),
      /** Download the panel only when no copy exists; never refresh it. */
      'disable-auto-update-panel': z.boolean().default(false),
      /** A github.com repository URL or any GitHub-compatible `releases/latest` API URL. */
      'panel-github-repository': z.preprocess(unsetIfEmpty, z.string().url().optional()),
      /** cliproxy's own release feed for /latest-version (same URL forms); unset → 502 there. */
      'release-repository': z.preprocess(unsetIfEmpty, z.string().url().optional()),
    })
    .default({ 'allow-remote': false, 'disable-control-panel': false, 'disable-auto-update-panel': false }),
  timeouts: z
    .object({ connect: seconds(10), 'first-byte': seconds(300), idle: seconds(120) })
    .default({ connect: 10, 'first-byte': 300, idle: 120 }),
  routing: z
    .object({
      strategy: strategySchema.default('round-robin'),
      'session-affinity': z.boolean().default(false),
      'session-affinity-ttl': duration(3600),
    })
    .default({ strategy: 'round-robin', 'session-affinity': false, 'session-affinity-ttl': 3600 }),
  'disable-cooling': z.boolean().default(false),
  /** Cooldown after a 5xx or network failure (CLI Proxy API's key); 0 = none. */
  'transient-error-cooldown-seconds': z.number().min(0).default(60),
  /** Observability: usage records in SQLite (usage-db, default usage.db beside config.yaml) or PostgreSQL (a postgres:// URL; USAGE_DB_URL wins). */
  'usage-statistics-enabled': z.boolean().default(false),
  'usage-db': z.preprocess(unsetIfEmpty, z.string().optional()),
  /** Usage records older than this many days are deleted (at start, then hourly); 0 keeps them all. */
  'usage-retention-days': z.number().min(0).default(0),
  /** Usage records held in memory while the usage database cannot be written; more are dropped and counted. */
  'usage-buffer-max-records': z.number().int().min(1).default(100_000),
  /** One file per request under logs-dir (default logs/ beside config.yaml); 0 MB = no size cap. */
  'request-log': z.boolean().default(false),
  'logs-dir': z.preprocess(unsetIfEmpty, z.string().optional()),
  'logs-max-total-size-mb': z.number().min(0).default(0),
  /** GET /metrics needs the management secret unless public. */
  metrics: z.object({ public: z.boolean().default(false) }).default({ public: false }),
  /** Shared state for several instances (also REDIS_URL); read at startup. */
  'redis-url': z.preprocess(unsetIfEmpty, z.string().regex(/^rediss?:\/\/./, { message: 'expected a redis:// or rediss:// URL' }).optional()),
  /** Worker processes on this port: a number, or "auto" for one per core (read at startup). */
  workers: z.preprocess((v) => (v === '' || v === null ? undefined : v), z.union([z.number().int().min(1).max(256), z.literal('auto')]).optional()),
  'openai-compatibility': z.preprocess((v) => v ?? [], z.array(providerSchema)),
});

export type Config = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type ApiKeyEntry = z.infer<typeof apiKeyEntrySchema>;

/** The top-level keys cliproxy reads; any other key is reported once as "not used by cliproxy". */
export const KNOWN_KEYS: ReadonlySet<string> = new Set(Object.keys(configSchema.shape));
