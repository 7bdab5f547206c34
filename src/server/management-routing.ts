/**
 * /v0/management: routing that operators can see and steer. Credentials with their counters and
 * live cooldowns (keys masked, named `<provider>#<index>`), reset-quota to clear cooldowns at
 * once, and the routing strategy, switched live (saved to config.yaml like every other edit).
 */
import { strategySchema } from '../config/schema.js';
import { setValue } from '../config/yaml-edit.js';
import { maskProxyUrl, maskSecret } from '../observe/logger.js';
import type { Credential, Provider } from '../routing/registry.js';
import { applyEdit, invalidBody, isObject, itemNotFound, ManagementError, type ManagementRequest, type Reply, type Routes } from './management-common.js';

/** Every provider reachable through some pool, once, in config order. */
function providers(req: ManagementRequest): Provider[] {
  const seen = new Map<string, Provider>();
  for (const pool of req.editor.store.current().registry.list) {
    for (const target of pool.members) if (!seen.has(target.provider.name)) seen.set(target.provider.name, target.provider);
  }
  return [...seen.values()];
}

const iso = (ms: number) => new Date(ms).toISOString();

async function getCredentials(req: ManagementRequest): Promise<Reply> {
  const { balancer } = req.ctx.rt;
  const known = providers(req);
  await balancer.refreshCounters(known.flatMap((p) => p.credentials));
  const now = Date.now();
  const credentials = known.flatMap((provider) =>
    provider.credentials.map((c) => {
      const state = balancer.describe(c, now);
      return {
        id: c.id,
        provider: provider.name,
        key: c.apiKey ? maskSecret(c.apiKey) : null,
        'proxy-url': maskProxyUrl(c.proxyUrl) ?? null,
        priority: c.priority,
        weight: c.weight,
        'disable-cooling': c.disableCooling,
        success: state.success,
        failure: state.failure,
        'last-error': state.lastError ?? null,
        cooldowns: state.cooldowns.map((cd) => ({ model: cd.model, until: iso(cd.until), reason: cd.reason, status: cd.status ?? null })),
      };
    }),
  );
  return { json: { credentials } };
}

async function resetQuota(req: ManagementRequest): Promise<Reply> {
  const body = (await req.json()) ?? {};
  if (!isObject(body)) throw invalidBody('expected {}, {"provider": name} or {"credential": id}');
  const known = providers(req);
  let selected: Credential[];
  if (typeof body.credential === 'string') {
    selected = known.flatMap((p) => p.credentials).filter((c) => c.id === body.credential);
  } else if (typeof body.provider === 'string') {
    selected = known.filter((p) => p.name === body.provider).flatMap((p) => p.credentials);
  } else if (Object.keys(body).length === 0) {
    selected = known.flatMap((p) => p.credentials);
  } else {
    throw invalidBody('expected {}, {"provider": name} or {"credential": id}');
  }
  if (selected.length === 0) throw itemNotFound();
  const byStateId = new Map(selected.map((c) => [c.stateId, c]));
  const cleared = req.ctx.rt.balancer.resetCooldowns((stateId) => byStateId.has(stateId));
  return {
    json: {
      status: 'ok',
      cleared: cleared.map((c) => ({ credential: byStateId.get(c.stateId)!.id, model: c.model, until: iso(c.until), reason: c.reason })),
    },
  };
}

async function getStrategy(req: ManagementRequest): Promise<Reply> {
  return { json: { strategy: req.editor.store.current().config.routing.strategy } };
}

async function setStrategy(req: ManagementRequest): Promise<Reply> {
  const body = await req.json();
  const value = isObject(body) ? (body.value ?? body.strategy) : undefined;
  const parsed = strategySchema.safeParse(value);
  if (!parsed.success) throw new ManagementError(400, `routing.strategy: ${parsed.error.issues[0]?.message ?? 'invalid value'}`);
  return applyEdit(req, ({ doc }) => setValue(doc, ['routing', 'strategy'], parsed.data));
}

export const routingRoutes: Routes = {
  '/credentials': { GET: getCredentials },
  '/reset-quota': { POST: resetQuota },
  '/routing/strategy': { GET: getStrategy, PUT: setStrategy, PATCH: setStrategy },
};
