/**
 * Model discovery (beyond CLI Proxy API, whose users keep asking for it): a provider with `models`
 * omitted, or `discover-models: true`, gets its list from GET <base-url>/models at start, after
 * every config reload and every `discover-interval` (default 10 minutes). A failed discovery keeps
 * the last good list and says so in the log and in /v0/management/openai-compatibility.
 */
import type { Dispatcher } from 'undici';
import type { ConfigStore, Snapshot } from '../config/store.js';
import type { Config, ProviderConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import type { Dispatchers } from '../upstream/dispatchers.js';
import { describeNetworkError } from '../upstream/faults.js';
import { readBody } from '../upstream/forward.js';
import type { DiscoveryStatus } from './discovery-status.js';
import { buildProvider, discovers } from './registry.js';

const DEFAULT_INTERVAL_S = 600;
const LIST_LIMIT = 8 * 1024 * 1024;
/** The first discovery at start waits at most this long before the server listens anyway. */
const START_WAIT_MS = 10_000;

/** Model ids of an OpenAI list (`data[].id`), an Ollama-style `models[]`, or a bare array. */
export function parseModelList(text: string): string[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const items = Array.isArray(parsed) ? parsed : typeof parsed === 'object' && parsed !== null ? ((parsed as { data?: unknown }).data ?? (parsed as { models?: unknown }).models) : undefined;
  if (!Array.isArray(items)) return undefined;
  const ids = new Set<string>();
  for (const item of items) {
    const id = typeof item === 'string' ? item : typeof item === 'object' && item !== null ? ((item as { id?: unknown }).id ?? (item as { name?: unknown }).name ?? (item as { model?: unknown }).model) : undefined;
    if (typeof id === 'string' && id.trim() !== '') ids.add(id.trim());
  }
  return [...ids];
}

/** GET <base-url>/models with the provider's first credential; the ids or an error message. */
async function fetchModels(p: ProviderConfig, config: Config, dispatcher: (proxy: string | undefined) => Dispatcher, timeoutMs: number): Promise<string[]> {
  const provider = buildProvider(p, config);
  const credential = provider.credentials.find((c) => c.apiKey) ?? provider.credentials[0]!;
  const { 'content-type': _type, ...headers } = credential.headers;
  const response = await dispatcher(credential.proxyUrl).request({
    origin: provider.origin,
    path: `${provider.basePath}/models`,
    method: 'GET',
    headers: { ...headers, accept: 'application/json' },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const body = await readBody(response.body, LIST_LIMIT);
  if (response.statusCode !== 200) throw new Error(`GET /models answered ${response.statusCode}`);
  const ids = parseModelList(body.toString('utf8'));
  if (!ids) throw new Error('GET /models did not answer with a model list');
  return ids;
}

export class ModelDiscovery {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly store: ConfigStore,
    private readonly dispatchers: Dispatchers,
    private readonly log: Logger,
  ) {
    store.onSwap((next, previous) => {
      if (next.config !== previous.config) void this.sync(next);
    });
  }

  /** Discovers every provider that asks for it (waiting up to 10 s), and schedules refreshes. */
  async start(): Promise<void> {
    const first = this.sync(this.store.current());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([first, new Promise<void>((resolve) => (timer = setTimeout(resolve, START_WAIT_MS).unref()))]);
    clearTimeout(timer);
  }

  /** Re-discovers all discovering providers of a snapshot's config and resets their timers. */
  private async sync(snap: Snapshot): Promise<void> {
    for (const timer of this.timers.values()) clearInterval(timer);
    this.timers.clear();
    const providers = snap.config['openai-compatibility'].filter((p) => !p.disabled && discovers(p));
    for (const p of providers) {
      const timer = setInterval(() => void this.refresh([p.name]), (p['discover-interval'] ?? DEFAULT_INTERVAL_S) * 1000);
      timer.unref();
      this.timers.set(p.name, timer);
    }
    if (providers.length > 0) await this.refresh(providers.map((p) => p.name));
  }

  /** Fetches the named providers' lists from the current config and publishes the results at once. */
  async refresh(names: readonly string[]): Promise<void> {
    const config = this.store.current().config;
    const timeoutMs = Math.min(30_000, config.timeouts['first-byte'] * 1000);
    const targets = config['openai-compatibility'].filter((p) => names.includes(p.name) && !p.disabled && discovers(p));
    const results = await Promise.all(
      targets.map(async (p) => {
        try {
          return { p, ids: await fetchModels(p, config, (proxy) => this.dispatchers.get(proxy, config.timeouts.connect * 1000), timeoutMs) };
        } catch (err) {
          const message = err instanceof Error && !('code' in err) ? err.message : describeNetworkError(err).reason;
          return { p, error: message };
        }
      }),
    );
    if (this.closed || results.length === 0) return;
    // Apply to the snapshot current now (a reload may have happened meanwhile); drop providers gone.
    const current = this.store.current();
    const live = new Set(current.config['openai-compatibility'].filter(discovers).map((p) => p.name));
    const next = new Map<string, DiscoveryStatus>([...current.discovery].filter(([name]) => live.has(name)));
    const now = Date.now();
    for (const r of results) {
      if (!live.has(r.p.name)) continue;
      const before = next.get(r.p.name);
      if (r.ids) {
        if (!before?.models || before.models.join('\n') !== r.ids.join('\n')) this.log.info({ provider: r.p.name, models: r.ids.length }, 'model discovery: list updated');
        next.set(r.p.name, { models: r.ids, updatedAt: now, attemptedAt: now });
      } else {
        const kept = before?.models?.length ?? 0;
        this.log.warn({ provider: r.p.name, error: r.error, kept }, before?.models ? `model discovery failed; keeping the last good list (${kept} models)` : 'model discovery failed; no model list yet');
        next.set(r.p.name, { ...before, attemptedAt: now, error: r.error });
      }
    }
    this.store.setDiscovery(next);
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers.values()) clearInterval(timer);
    this.timers.clear();
  }
}
