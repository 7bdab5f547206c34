/**
 * One pooled keep-alive dispatcher per distinct proxy URL (plus one for direct traffic), reused
 * across requests, as undici's Agent caches pools per origin. Rebuilt only when a reload changes
 * the proxy set or the connect timeout; dispatchers nobody uses any more are closed.
 */
import { Agent, buildConnector, ProxyAgent, Socks5ProxyAgent, type Dispatcher } from 'undici';

const KEEP_ALIVE_MS = 60_000;

function create(proxyUrl: string | undefined, connectTimeoutMs: number): Dispatcher {
  // No cap on connections per origin: a cap would queue stream N+1 behind a whole stream.
  const common = { keepAliveTimeout: KEEP_ALIVE_MS };
  if (!proxyUrl) return new Agent({ ...common, connect: { timeout: connectTimeoutMs } });
  const url = new URL(proxyUrl);
  if (url.protocol === 'socks5:' || url.protocol === 'socks5h:') {
    // undici resolves names on the proxy side (socks5h semantics) for both spellings.
    url.protocol = 'socks5:';
    return new Socks5ProxyAgent(url.toString(), {
      ...common,
      connect: buildConnector({ timeout: connectTimeoutMs }),
    });
  }
  return new ProxyAgent({ uri: proxyUrl, ...common, connect: { timeout: connectTimeoutMs }, proxyTunnel: true });
}

export class Dispatchers {
  private readonly byKey = new Map<string, Dispatcher>();

  /** The dispatcher for a proxy URL (undefined = direct). */
  get(proxyUrl: string | undefined, connectTimeoutMs: number): Dispatcher {
    const key = `${connectTimeoutMs}|${proxyUrl ?? 'direct'}`;
    let d = this.byKey.get(key);
    if (!d) this.byKey.set(key, (d = create(proxyUrl, connectTimeoutMs)));
    return d;
  }

  /**
   * Closes dispatchers no longer in use after a reload. Requests in flight on them finish first:
   * close() waits for them, so this is fire-and-forget.
   */
  retain(proxyUrls: Iterable<string | undefined>, connectTimeoutMs: number): void {
    const live = new Set<string>();
    for (const url of proxyUrls) live.add(`${connectTimeoutMs}|${url ?? 'direct'}`);
    for (const [key, d] of this.byKey) {
      if (live.has(key)) continue;
      this.byKey.delete(key);
      d.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const all = [...this.byKey.values()];
    this.byKey.clear();
    await Promise.allSettled(all.map((d) => d.destroy()));
  }
}
