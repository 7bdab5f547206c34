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

/** Extra retry rounds for one provider or key; omitted or negative inherits the global request-retry. */
const requestRetry = z.number().int().optional();

export const apiKeyEntrySchema = z.object({
  'api-key': z.preprocess(unsetIfEmpty, z.string().optional()),
  'proxy-url': proxyUrl,
  priority,
  weight,
  'disable-cooling': disableCooling,
  'request-retry': requestRetry,
});

export const SCOPED_ERROR_ACTIONS = ['stop', 'stop-and-cooldown', 'continue', 'continue-and-cooldown'] as const;

/** CLI Proxy API's request-scoped-errors: an upstream status + body pattern decides what happens next. */
export const requestScopedErrorSchema = z.object({
  status: z.number().int().min(100).max(599),
  match: z.array(z.string()).default([]),
  'match-regexr': z
    .array(
      z.string().refine(
        (v) => {
          try {
            new RegExp(v);
            return true;
          } catch {
            return false;
          }
        },
        { message: 'expected a valid regular expression' },
      ),
    )
    .default([]),
  action: z.preprocess(
    (v) => (typeof v === 'string' ? v.trim().toLowerCase() : v),
    z.enum(SCOPED_ERROR_ACTIONS, { error: 'expected stop, stop-and-cooldown, continue or continue-and-cooldown' }),
  ),
});
export const requestScopedErrorsSchema = z.preprocess(unsetIfEmpty, z.array(requestScopedErrorSchema).optional());

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
  /** Shown as display_name in /v1/models. */
  'display-name': z.preprocess(unsetIfEmpty, z.string().optional()),
  'max-context-length': z.number().int().positive().optional(),
  /** `[text]` makes image and audio parts reach this model as a text note. */
  'input-modalities': z.array(z.string().trim().toLowerCase()).optional(),
  'output-modalities': z.array(z.string().trim().toLowerCase()).optional(),
  /** reasoning_effort levels the model takes; a suffix or budget is clamped to them. */
  thinking: z.object({ levels: z.array(z.string().trim().toLowerCase()).optional() }).optional(),
});

/** One `models` entry of a payload rule: which requests it applies to. */
const payloadModelSchema = z.object({
  name: z.string().trim().min(1),
  protocol: z.preprocess(unsetIfEmpty, z.string().trim().toLowerCase().optional()),
  'from-protocol': z.preprocess(unsetIfEmpty, z.string().trim().toLowerCase().optional()),
  headers: z.record(z.string(), z.coerce.string()).optional(),
  match: z.array(z.record(z.string(), z.unknown())).optional(),
  'not-match': z.array(z.record(z.string(), z.unknown())).optional(),
  exist: z.array(z.string()).optional(),
  'not-exist': z.array(z.string()).optional(),
});
const payloadRuleSchema = z.object({ models: z.array(payloadModelSchema).default([]), params: z.record(z.string(), z.unknown()).default({}) });
/** Raw values must be JSON text (or a YAML value, used as it is). */
const payloadRawRuleSchema = payloadRuleSchema.superRefine((rule, ctx) => {
  for (const [path, value] of Object.entries(rule.params)) {
    if (typeof value !== 'string') continue;
    try {
      JSON.parse(value);
    } catch {
      ctx.addIssue({ code: 'custom', path: ['params', path], message: 'expected valid JSON text' });
    }
  }
});
const payloadFilterSchema = z.object({ models: z.array(payloadModelSchema).default([]), params: z.array(z.string()).default([]) });
const rules = <T extends z.ZodType>(schema: T) => z.preprocess((v) => v ?? undefined, z.array(schema).optional());

/** CLI Proxy API's payload rules: JSON paths set or removed in the upstream body per model. */
export const payloadSchema = z.object({
  default: rules(payloadRuleSchema),
  'default-raw': rules(payloadRawRuleSchema),
  override: rules(payloadRuleSchema),
  'override-raw': rules(payloadRawRuleSchema),
  filter: rules(payloadFilterSchema),
});

/** Namespaces a provider's models: `prefix/model`. */
const modelPrefix = z.preprocess(
  unsetIfEmpty,
  z
    .string()
    .regex(/^[^/\s]+$/, { message: 'expected a prefix without "/" or spaces, e.g. "or"' })
    .optional(),
);

export const providerSchema = z
  .object({
    name: z.string().min(1),
    prefix: modelPrefix,
    disabled: z.boolean().default(false),
    priority,
    'disable-cooling': disableCooling,
    'request-retry': requestRetry,
    'request-scoped-errors': requestScopedErrorsSchema,
    /** Keep the client's prompt_cache_key, or derive one per session. */
    'support-prompt-cache-key': z.boolean().optional(),
    'base-url': baseUrl,
    headers: z.record(z.string(), z.coerce.string()).default({}),
    'api-key-entries': z.array(apiKeyEntrySchema).default([]),
    /** Older CLI Proxy API files list plain keys here; they become api-key-entries. */
    'api-keys': z.array(z.string()).optional(),
    /** Omitted (or discover-models: true): the list comes from GET <base-url>/models. */
    models: z.array(modelSchema).optional(),
    'discover-models': z.boolean().optional(),
    /** How often a discovered list is refreshed (default 10m). */
    'discover-interval': z.preprocess(
      (v) => (v === undefined || v === '' || v === null ? undefined : (parseDuration(v) ?? v)),
      z.number({ error: 'expected a duration such as 90s, 10m, 1h' }).min(1, { message: 'at least 1s' }).optional(),
    ),
    'excluded-models': z.array(z.string()).default([]),
  })
  .transform(({ 'api-keys': legacyKeys, ...provider }) => {
    if (!legacyKeys?.length) return provider;
    const entries = [...provider['api-key-entries'], ...legacyKeys.map((k) => ({ 'api-key': k, 'proxy-url': undefined }))];
    return { ...provider, 'api-key-entries': entries };
  });

/**
 * One entry of `claude-api-key`, `gemini-api-key` or `codex-api-key`, as CLI Proxy API writes it:
 * one upstream key with its own endpoint, models and routing knobs. base-url is optional where the
 * vendor has a public default (claude, gemini) and required for codex.
 */
export const nativeKeySchema = (baseUrlRequired: boolean) =>
  z.object({
    'api-key': z.preprocess(unsetIfEmpty, z.string().optional()),
    'base-url': z.preprocess(unsetIfEmpty, baseUrl.optional()),
    prefix: modelPrefix,
    'proxy-url': proxyUrl,
    headers: z.record(z.string(), z.coerce.string()).default({}),
    models: z.preprocess((v) => v ?? [], z.array(modelSchema)),
    'excluded-models': z.preprocess((v) => v ?? [], z.array(z.string())),
    priority,
    weight,
    'disable-cooling': disableCooling,
    /** Retry rounds for this key; omitted or negative = the global request-retry. */
    'request-retry': z.number().int().optional(),
    'request-scoped-errors': requestScopedErrorsSchema,
  })
  .refine((entry) => !baseUrlRequired || entry['base-url'] !== undefined, {
    message: 'required (codex-api-key has no default endpoint)',
    path: ['base-url'],
  });

export const NATIVE_KEYS = ['claude-api-key', 'gemini-api-key', 'codex-api-key'] as const;
export type NativeKey = (typeof NATIVE_KEYS)[number];

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
  'claude-api-key': z.preprocess((v) => v ?? [], z.array(nativeKeySchema(false))),
  'gemini-api-key': z.preprocess((v) => v ?? [], z.array(nativeKeySchema(false))),
  'codex-api-key': z.preprocess((v) => v ?? [], z.array(nativeKeySchema(true))),
  payload: z.preprocess(unsetIfEmpty, payloadSchema.optional()),
  /** SSE comment frames during silence, and whole-request retries before a stream's first byte. */
  streaming: z.preprocess(
    unsetIfEmpty,
    z.object({ 'keepalive-seconds': z.number().optional(), 'bootstrap-retries': z.number().int().optional() }).optional(),
  ),
  /** Seconds between newlines written ahead of a slow non-stream answer; 0 = off. */
  'nonstream-keepalive-interval': z.number().min(0).optional(),
  /** Forward upstream response headers (filtered); unset keeps cliproxy's default (on). */
  'passthrough-headers': z.boolean().optional(),
  /** false also registers a prefixed provider's models under their plain alias. */
  'force-model-prefix': z.boolean().optional(),
});

export type Config = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type ApiKeyEntry = z.infer<typeof apiKeyEntrySchema>;
export type NativeKeyConfig = z.infer<ReturnType<typeof nativeKeySchema>>;
export type PayloadConfig = z.infer<typeof payloadSchema>;
export type PayloadModelConfig = z.infer<typeof payloadModelSchema>;
export type RequestScopedErrorRule = z.infer<typeof requestScopedErrorSchema>;

/** The top-level keys cliproxy reads; any other key is reported once as "not used by cliproxy". */
export const KNOWN_KEYS: ReadonlySet<string> = new Set(Object.keys(configSchema.shape));
