/**
 * What an instance does besides sharing state when it runs with Redis: follow the cluster's
 * configuration changes (config-sync.ts) and answer for its usage statistics (usage-share.ts).
 * Without Redis there is nothing to join.
 */
import type { ConfigEditor } from '../config/persist.js';
import type { Logger } from '../observe/logger.js';
import type { Observability } from '../observe/observability.js';
import { usageLocation } from '../observe/usage-store.js';
import { redisUrlOf } from './index.js';
import type { RedisState } from './redis.js';
import type { SharedState } from './types.js';
import type { UsageShare } from './usage-share.js';

export interface ClusterOptions {
  readonly state: SharedState;
  readonly editor: ConfigEditor;
  readonly observe: Observability;
  readonly log: Logger;
}

export interface ClusterMembership {
  readonly usage: UsageShare | undefined;
}

/** Call before `state.start()`, so that the first connection already resynchronises the config. */
export async function joinCluster(options: ClusterOptions): Promise<ClusterMembership> {
  const { state, editor, observe, log } = options;
  warnRestartOnly(editor, log);
  if (state.backend !== 'redis') return { usage: undefined };
  const [{ ConfigSync }, { UsageShare, usageStoreIdentity }] = await Promise.all([import('./config-sync.js'), import('./usage-share.js')]);
  const link = (state as RedisState).link;
  new ConfigSync(link, editor, log);
  const store = editor.store;
  const identity = () => usageStoreIdentity(usageLocation(store.current().config['usage-db'], store.path));
  // Only an instance with statistics on has a store to answer from.
  const source = async () => (store.current().config['usage-statistics-enabled'] ? observe.usage() : undefined);
  return { usage: new UsageShare(link, source, identity, log) };
}

/** redis-url and workers are read at startup: say so when a reload changes them. */
function warnRestartOnly(editor: ConfigEditor, log: Logger): void {
  const first = editor.store.current().config;
  const running = `${redisUrlOf(first) ?? ''}\u0000${first.workers ?? 1}`;
  let warned = running;
  editor.store.onSwap((next) => {
    const now = `${redisUrlOf(next.config) ?? ''}\u0000${next.config.workers ?? 1}`;
    if (now === warned) return;
    warned = now;
    if (now !== running) log.warn('redis-url and workers changed in config.yaml: they take effect at the next restart');
  });
}
