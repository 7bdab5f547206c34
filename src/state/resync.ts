/**
 * Resynchronisation, each time the connection to Redis is (re)established. First push: what this
 * instance changed while Redis was away (all of its live state when Redis is a new server, e.g.
 * restarted without persistence: `run_id` changed; then only where Redis has nothing, so another
 * instance's newer record wins). Then pull everything and make the mirror equal to Redis, which
 * now also holds every other instance's records: cooldowns, bindings and bans set elsewhere
 * appear, and cooldowns cleared elsewhere disappear. What was changed here while Redis was away
 * is also published as events, for the instances that resynchronised before this one.
 */
import type { Binding, Cooldown } from './types.js';
import { PREFIX } from './redis-link.js';
import { EVENTS, KEYS, type RedisState } from './redis.js';

const SCAN_COUNT = 1000;

async function scanValues(state: RedisState, pattern: string): Promise<Array<[string, string]>> {
  const client = state.link.client;
  const out: Array<[string, string]> = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
    cursor = next;
    if (keys.length === 0) continue;
    const values = await client.mget(...keys);
    keys.forEach((key, i) => {
      const v = values[i];
      if (v !== null && v !== undefined) out.push([key, v]);
    });
  } while (cursor !== '0');
  return out;
}

async function runId(state: RedisState): Promise<string> {
  const info = await state.link.client.info('server');
  return /run_id:(\w+)/.exec(info)?.[1] ?? '';
}

/** The Redis server each state last synchronised with. */
const lastRunIds = new WeakMap<RedisState, string>();

export async function resync(state: RedisState): Promise<void> {
  state.touched = new Set();
  try {
    await pushAndPull(state);
  } finally {
    state.touched = undefined;
  }
}

async function pushAndPull(state: RedisState): Promise<void> {
  const id = await runId(state);
  const freshServer = lastRunIds.get(state) !== id;
  lastRunIds.set(state, id);
  const { cooldowns, bindings, failures } = state.mirror();
  const dirty = new Set(state.dirty);
  state.dirty.clear();
  const now = Date.now();
  const pipeline = state.link.client.pipeline();
  const channel = PREFIX + EVENTS;
  // Push: overwrite what we changed while away; fill in the rest only where Redis has nothing.
  for (const [pair, c] of cooldowns) {
    if (c.until <= now) continue;
    const mine = dirty.delete(`cd\u0000${pair}`);
    if (mine) pipeline.set(KEYS.cooldown(pair), JSON.stringify(c), 'PXAT', c.until).publish(channel, state.event({ t: 'cd', c }));
    else if (freshServer) pipeline.set(KEYS.cooldown(pair), JSON.stringify(c), 'PXAT', c.until, 'NX');
  }
  for (const [k, b] of bindings) {
    if (b.expires <= now) continue;
    const mine = dirty.delete(`aff\u0000${k}`);
    const value = JSON.stringify({ target: b.target, cred: b.cred, expires: b.expires });
    if (mine) pipeline.set(KEYS.binding(k), value, 'PXAT', b.expires).publish(channel, state.event({ t: 'bind', k, b: { target: b.target, cred: b.cred, expires: b.expires } }));
    else if (freshServer) pipeline.set(KEYS.binding(k), value, 'PXAT', b.expires, 'NX');
  }
  for (const [address, f] of failures) {
    if (f.bannedUntil <= now) continue;
    const mine = dirty.delete(`ban\u0000${address}`);
    if (mine || freshServer) pipeline.set(KEYS.ban(address), String(f.bannedUntil), 'PXAT', f.bannedUntil);
    if (mine) pipeline.publish(channel, state.event({ t: 'ban', a: address, until: f.bannedUntil }));
  }
  // What is left in `dirty` was deleted here while Redis was away (a cleared cooldown).
  for (const entry of dirty) {
    const cut = entry.indexOf('\u0000');
    const kind = entry.slice(0, cut);
    if (kind === 'cd') {
      const pair = entry.slice(cut + 1);
      const sep = pair.indexOf('\u0000');
      pipeline.del(KEYS.cooldown(pair)).publish(channel, state.event({ t: 'cd-', cred: pair.slice(0, sep), model: pair.slice(sep + 1) }));
    }
    else if (kind === 'aff') pipeline.del(KEYS.binding(entry.slice(cut + 1)));
  }
  await pipeline.exec();
  await state.flushCounts();

  // Pull: the mirror becomes what Redis holds.
  const remoteCooldowns = new Map<string, Cooldown>();
  for (const [key, value] of await scanValues(state, `${PREFIX}cd:*`)) {
    try {
      remoteCooldowns.set(key.slice(`${PREFIX}cd:`.length), JSON.parse(value) as Cooldown);
    } catch {
      /* not ours */
    }
  }
  for (const pair of [...cooldowns.keys()]) if (!remoteCooldowns.has(pair) && !state.touched?.has(pair)) cooldowns.delete(pair);
  for (const [pair, c] of remoteCooldowns) if (!state.touched?.has(pair)) cooldowns.set(pair, c);
  for (const [key, value] of await scanValues(state, `${PREFIX}aff:*`)) {
    try {
      const b = JSON.parse(value) as Binding;
      const k = key.slice(`${PREFIX}aff:`.length);
      const local = bindings.get(k);
      if (!local || local.target !== b.target || local.cred !== b.cred || local.expires < b.expires) bindings.set(k, { ...b, shared: b.expires } as Binding);
    } catch {
      /* not ours */
    }
  }
  for (const [key, value] of await scanValues(state, `${PREFIX}ban:*`)) {
    const until = Number(value);
    const address = key.slice(`${PREFIX}ban:`.length);
    if (until > Date.now()) {
      const f = failures.get(address) ?? { count: 0, last: 0, bannedUntil: 0 };
      f.bannedUntil = Math.max(f.bannedUntil, until);
      failures.set(address, f);
    }
  }
}
