/**
 * The state backend a gateway runs on: Redis when `redis-url` (or REDIS_URL) is set, shared by
 * every instance pointed at it; otherwise this process's memory, as a single instance needs.
 * The Redis modules (and ioredis) are loaded only when a URL is set: no start-up cost otherwise.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import { MemoryState } from './memory.js';
import type { SharedState } from './types.js';

export type { SharedState } from './types.js';

/** The Redis URL in force: the config's `redis-url`, else the REDIS_URL environment variable. */
export function redisUrlOf(config: Config, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return config['redis-url'] ?? (env.REDIS_URL?.trim() || undefined);
}

/** Creates the backend; `start()` connects it (an unreachable Redis is not an error: local state serves). */
export async function createState(config: Config, log: Logger): Promise<SharedState> {
  const url = redisUrlOf(config);
  if (url === undefined) return new MemoryState();
  const { RedisState } = await import('./redis.js');
  return new RedisState(url, log);
}
