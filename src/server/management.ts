/**
 * The management API, /v0/management/*, as its own sub-app (a Mount): own guard, own error shape
 * (`{"error": "..."}`, as CLI Proxy API), JSON in and out. It never touches a live snapshot:
 * every change goes through the ConfigEditor (validated, saved to config.yaml, then swapped).
 * Without a configured secret (or MANAGEMENT_PASSWORD) every path answers 404.
 */
import type { ConfigEditor } from '../config/persist.js';
import type { Mount } from './app.js';
import { sendJson, type RequestContext } from './context.js';
import { ManagementError, readBodyText, type ManagementRequest, type Reply, type Routes } from './management-common.js';
import { configFileRoutes } from './management-config-file.js';
import { isLoopback, ManagementGuard } from './management-guard.js';
import { nativeKeyRoutes } from './management-native-keys.js';
import { panelParamRoute, panelRoutes } from './management-panel.js';
import { providerRoutes } from './management-providers.js';
import { routingRoutes } from './management-routing.js';
import { settingsRoutes } from './management-settings.js';
import type { SharedState } from '../state/types.js';

export const MANAGEMENT_PREFIX = '/v0/management';
/** Management bodies are config documents; 4 MiB is far above any real one. */
const BODY_LIMIT = 4 * 1024 * 1024;

const routes: Routes = { ...panelRoutes, ...providerRoutes, ...nativeKeyRoutes, ...settingsRoutes, ...routingRoutes, ...configFileRoutes };

export interface ManagementOptions {
  /** Accepted besides `remote-management.secret-key`; defaults to the MANAGEMENT_PASSWORD environment variable. */
  readonly password?: string;
  /**
   * Which client addresses count as local (allowed without `remote-management.allow-remote`).
   * Defaults to loopback. Tests inject one to exercise the remote refusal over loopback sockets.
   */
  readonly isLocal?: (address: string) => boolean;
}

const readBody = (ctx: RequestContext) => readBodyText(ctx, BODY_LIMIT);

function request(ctx: RequestContext, editor: ConfigEditor): ManagementRequest {
  const query = ctx.query ?? new URLSearchParams();
  let body: Promise<string> | undefined;
  const text = () => (body ??= readBody(ctx));
  return {
    ctx,
    editor,
    query,
    reveal: query.get('reveal') === 'true' || query.get('reveal') === '1',
    text,
    async json() {
      const raw = await text();
      if (raw.trim() === '') return undefined;
      try {
        return JSON.parse(raw) as unknown;
      } catch (err) {
        throw new ManagementError(400, `invalid body: ${(err as Error).message}`);
      }
    },
  };
}

function send(ctx: RequestContext, status: number, reply: Reply): void {
  const extra: Record<string, string> = { 'cache-control': 'no-store' };
  // A body we did not read must not be parsed as the next request on this connection.
  if (!ctx.req.complete) extra.connection = 'close';
  if ('json' in reply) return sendJson(ctx, status, reply.json, extra);
  ctx.res.writeHead(status, { ...ctx.headers, ...extra, 'content-type': reply.contentType, 'content-length': Buffer.byteLength(reply.text) });
  ctx.res.end(reply.text);
}

/** The guard of the management API; shared with /metrics and the usage routes (one ban list). */
export function managementGuard(options: ManagementOptions = {}, state?: SharedState): ManagementGuard {
  return new ManagementGuard({
    password: options.password ?? (process.env.MANAGEMENT_PASSWORD || undefined),
    isLocal: options.isLocal ?? isLoopback,
    state,
  });
}

/** The /v0/management mount. */
export function createManagement(editor: ConfigEditor, options: ManagementOptions = {}, guard = managementGuard(options)): Mount {
  return async (ctx) => {
    if (ctx.path !== MANAGEMENT_PREFIX && !ctx.path.startsWith(`${MANAGEMENT_PREFIX}/`)) return false;
    try {
      const config = editor.store.current().config;
      if (!guard.enabled(config)) throw new ManagementError(404, 'not found');
      await guard.check(ctx.req, config);
      const subPath = ctx.path.slice(MANAGEMENT_PREFIX.length).replace(/\/+$/, '');
      const route = routes[subPath] ?? panelParamRoute(subPath);
      if (!route) throw new ManagementError(404, 'not found');
      const handler = route[ctx.req.method ?? 'GET'];
      if (!handler) throw new ManagementError(405, 'method not allowed', { allow: Object.keys(route).join(', ') });
      const reply = await handler(request(ctx, editor));
      send(ctx, 'json' in reply ? (reply.status ?? 200) : 200, reply);
    } catch (err) {
      if (ctx.res.headersSent) return true;
      if (err instanceof ManagementError) {
        Object.assign(ctx.headers, err.headers);
        send(ctx, err.status, { json: { error: err.message } });
      } else {
        ctx.rt.log.error({ err, path: ctx.path, requestId: ctx.requestId }, 'management request failed');
        send(ctx, 500, { json: { error: 'internal error' } });
      }
    }
    return true;
  };
}
