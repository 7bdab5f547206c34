/**
 * Assembles a running gateway: config store, balancer, dispatchers, HTTP server. Used by the CLI,
 * the demo, and the tests (which start the real thing on port 0).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfigFile, type LoadedConfig } from './config/load.js';
import { ConfigEditor } from './config/persist.js';
import { ConfigStore } from './config/store.js';
import { watchConfig } from './config/watch.js';
import { createLogger, type Logger } from './observe/logger.js';
import { Balancer } from './routing/balancer.js';
import { ModelDiscovery } from './routing/discovery.js';
import type { Runtime } from './runtime.js';
import { createRequestListener } from './server/app.js';
import { answerClientError } from './server/client-error.js';
import { createDrain } from './server/drain.js';
import { createManagement, managementGuard, type ManagementOptions } from './server/management.js';
import { RecentRequests } from './observe/recent-requests.js';
import { createPanel } from './server/panel.js';
import { createObservabilityRoutes } from './server/observability.js';
import { Observability } from './observe/observability.js';
import { ObservedResponse } from './observe/response.js';
import { Dispatchers } from './upstream/dispatchers.js';
import { createState } from './state/index.js';
import { joinCluster } from './state/cluster.js';

export interface GatewayOptions {
  /** config.yaml to load (and persist to). */
  readonly configPath: string;
  /** Override the file's port / host (CLI flags; tests pass 0). */
  readonly port?: number;
  readonly host?: string;
  readonly logger?: Logger;
  /** An already loaded config (the CLI loads it first to report errors). */
  readonly loaded?: LoadedConfig;
  /** How long a client may take to send its request headers (default 30 s). */
  readonly headersTimeoutMs?: number;
  /** Management API: password (default MANAGEMENT_PASSWORD), which addresses count as local. */
  readonly management?: ManagementOptions;
  /** Reload config.yaml when it changes on disk (default true). */
  readonly watch?: boolean;
}

export interface Gateway {
  readonly server: Server;
  readonly runtime: Runtime;
  readonly store: ConfigStore;
  /** The one way to change the config: serialised, validated, saved to config.yaml, swapped. */
  readonly editor: ConfigEditor;
  /** `http://host:port` the server listens on. */
  readonly url: string;
  readonly port: number;
  /**
   * Drains (server/drain.ts): refuses new connections, closes idle keep-alive ones, lets requests
   * and streams in flight finish (cut after `graceMs`), then releases upstream pools and stores.
   * Resolves as soon as the last request is done.
   */
  close(graceMs?: number): Promise<void>;
}

/** Seconds the server waits for a slow client's headers before closing (RFC 9110 leaves it to us). */
const HEADERS_TIMEOUT_MS = 30_000;

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const loaded = options.loaded ?? (await loadConfigFile(options.configPath));
  const log = options.logger ?? createLogger({ debug: loaded.config.debug });
  const store = new ConfigStore(loaded, options.configPath);
  // Cooldowns, bindings, cursors, counters, bans: this process's memory, or Redis (redis-url).
  const state = await createState(loaded.config, log);
  const balancer = new Balancer(state);
  const dispatchers = new Dispatchers();
  const observe = await Observability.create({ store, balancer, log });
  observe.metrics.addGauge('cliproxy_state_backend_up', 'Whether the shared state backend is reachable (memory: always 1)', { backend: state.backend }, () => (state.up() ? 1 : 0));
  store.onSwap((next) => {
    balancer.retain(next.registry.list);
    const proxies = new Set<string | undefined>([undefined]);
    for (const pool of next.registry.list) for (const t of pool.members) for (const c of t.provider.credentials) proxies.add(c.proxyUrl);
    dispatchers.retain(proxies, next.timeoutsMs.connect);
    log.level = next.config.debug ? 'debug' : (process.env.LOG_LEVEL ?? 'info');
  });
  // Providers without a model list get theirs from GET <base-url>/models before the server listens.
  const discovery = new ModelDiscovery(store, dispatchers, log);
  await discovery.start();
  const editor = new ConfigEditor(store, log);
  // A plaintext management secret is replaced by its bcrypt hash before anything is served.
  await editor.ensureSecretHashed();

  const cluster = await joinCluster({ state, editor, observe, log });
  const runtime: Runtime = { store, balancer, dispatchers, log, observe, recent: new RecentRequests(), usageShare: cluster.usage };
  await state.start();
  const guard = managementGuard(options.management, state);
  const drain = createDrain();
  const server = createServer(
    {
      headersTimeout: options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS,
      // Node checks header/request timeouts on this interval; keep it well below the timeout.
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, (options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS) / 4)),
      requestTimeout: 0,
      keepAliveTimeout: 65_000,
      // Stamps x-cliproxy-overhead-ms on every answer when its headers go out.
      ServerResponse: ObservedResponse,
    },
    drain.track(
      createRequestListener({ rt: runtime, mounts: [createObservabilityRoutes(guard), createManagement(editor, options.management, guard), createPanel(runtime, options.configPath)] }),
    ),
  );
  // Malformed requests, header floods (431), header timeouts (408): a JSON error like any other.
  server.on('clientError', answerClientError(log));

  const port = options.port ?? loaded.config.port;
  const host = options.host ?? loaded.config.host;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await observe.close();
    await state.close();
    throw err;
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const urlHost = host === undefined || address.address === '::' || address.address === '0.0.0.0' ? 'localhost' : shownHost;
  const watcher = options.watch === false ? undefined : watchConfig({ path: options.configPath, editor, log });

  let closing: Promise<void> | undefined;
  async function close(graceMs = 10_000): Promise<void> {
    closing ??= (async () => {
      watcher?.close();
      discovery.close();
      // Management and metrics are mounts of this same listener: they drain with it.
      await drain.drain(server, graceMs);
      await dispatchers.close();
      await observe.close(); // flushes usage records of the requests just drained
      await state.close();
    })();
    return closing;
  }

  return { server, runtime, store, editor, url: `http://${urlHost}:${address.port}`, port: address.port, close };
}
