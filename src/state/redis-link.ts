/**
 * The connection to Redis: one command connection (auto-pipelined: commands issued in the same
 * tick go out as one write) and one subscriber connection, reconnecting forever with backoff.
 * Commands never queue while Redis is away (they fail at once, so nothing waits on it); the state
 * layer keeps serving from its local tables. Up/down transitions are logged once each, and every
 * time both connections are ready again `onReady` runs (the state's resynchronisation).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../observe/logger.js';
import type { Bus } from './types.js';

/** Every key and channel cliproxy uses starts with this (choose a database in the URL to separate clusters). */
export const PREFIX = 'cliproxy:';

/** `redis://user:***@host:6379/0`: the URL as it may be logged. */
export function maskRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://(invalid url)';
  }
}

export class RedisLink implements Bus {
  readonly instance = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly client: Redis;
  private readonly sub: Redis;
  private readonly handlers = new Map<string, (message: string) => void>();
  private isUp = false;
  /** Logged "unreachable" for the current outage already. */
  private downLogged = false;
  private everUp = false;
  private closed = false;
  /** Run in order each time both connections are ready (resynchronisation). */
  private readonly readyHooks: Array<() => Promise<void>> = [];

  constructor(
    readonly url: string,
    private readonly log: Logger,
  ) {
    const options: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      // Keep trying, at most every 2 s: instances resynchronise as soon as Redis is back.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      reconnectOnError: () => false,
    };
    this.client = new Redis(url, { ...options, enableAutoPipelining: true });
    // Subscriptions are queued until connected and renewed after every reconnect.
    this.sub = new Redis(url, { ...options, enableOfflineQueue: true, autoResubscribe: true });
    for (const conn of [this.client, this.sub]) {
      conn.on('error', (err: Error) => this.down(err.message));
      conn.on('close', () => this.down('connection closed'));
      conn.on('ready', () => this.maybeUp());
    }
    this.sub.on('message', (channel: string, message: string) => {
      const handler = this.handlers.get(channel);
      if (handler) handler(message);
    });
  }

  /** Connects (does not throw: an unreachable Redis at startup is an outage like any other). */
  async start(): Promise<void> {
    await Promise.allSettled([this.client.connect(), this.sub.connect()]);
    if (!this.isUp) this.down('not reachable at startup');
  }

  up(): boolean {
    return this.isUp;
  }

  private down(reason: string): void {
    if (this.closed) return;
    this.isUp = false;
    if (this.downLogged) return;
    this.downLogged = true;
    this.log.warn({ redis: maskRedisUrl(this.url), reason }, 'shared state: redis unreachable; serving on local state until it returns');
  }

  private maybeUp(): void {
    if (this.closed || this.isUp || this.client.status !== 'ready' || this.sub.status !== 'ready') return;
    this.isUp = true;
    const again = this.everUp;
    this.everUp = true;
    this.runReadyHooks().then(
      () => {
        if (!this.isUp) return;
        this.downLogged = false;
        this.log.info({ redis: maskRedisUrl(this.url) }, again ? 'shared state: redis reachable again; state resynchronised' : 'shared state: connected to redis');
      },
      (err: unknown) => this.log.warn({ err: (err as Error).message }, 'shared state: resynchronisation with redis failed; will retry on reconnect'),
    );
  }

  onReady(hook: () => Promise<void>): void {
    this.readyHooks.push(hook);
  }

  /**
   * Subscriptions first: every event published from now on arrives, and every earlier write is
   * in Redis already, where the hooks' pull finds it.
   */
  private async runReadyHooks(): Promise<void> {
    const channels = [...this.handlers.keys()];
    if (channels.length > 0) await this.sub.subscribe(...channels);
    for (const hook of this.readyHooks) await hook();
  }

  async publish(channel: string, message: string): Promise<number> {
    if (!this.isUp) return 0;
    try {
      return await this.client.publish(PREFIX + channel, message);
    } catch {
      return 0;
    }
  }

  async send(instance: string, channel: string, message: string): Promise<void> {
    if (!this.isUp) return;
    await this.client.publish(`${PREFIX}${channel}@${instance}`, message).catch(() => undefined);
  }

  subscribe(channel: string, handler: (message: string) => void): void {
    const broadcast = PREFIX + channel;
    const own = `${PREFIX}${channel}@${this.instance}`;
    this.handlers.set(broadcast, handler);
    this.handlers.set(own, handler);
    this.sub.subscribe(broadcast, own).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.isUp = false;
    // QUIT only on a live connection (a reconnecting one would queue it forever), and not for long.
    const quit = (conn: Redis) =>
      conn.status === 'ready' ? Promise.race([conn.quit(), new Promise((resolve) => setTimeout(resolve, 500).unref())]) : undefined;
    await Promise.allSettled([quit(this.client), quit(this.sub)]);
    this.client.disconnect();
    this.sub.disconnect();
  }
}
