/**
 * Starts the real gateway on a free loopback port with a config.yaml written to a temp dir, and
 * captures its log lines (to assert on them, e.g. that no secret appears).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/gateway.js';

export interface TestProxy {
  readonly gateway: Gateway;
  readonly url: string;
  /** `${url}/v1`, for SDK clients. */
  readonly baseURL: string;
  readonly configPath: string;
  readonly dir: string;
  readonly logs: string[];
  close(): Promise<void>;
}

export const CLIENT_KEY = 'sk-client-test-key-0001';

/** Config as an object (serialised to YAML) or YAML text. api-keys default to [CLIENT_KEY]. */
export async function startProxy(config: Record<string, unknown> | string, options: Partial<Omit<GatewayOptions, 'configPath'>> = {}): Promise<TestProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'cliproxy-test-'));
  const configPath = join(dir, 'config.yaml');
  const text = typeof config === 'string' ? config : stringify({ 'api-keys': [CLIENT_KEY], ...config });
  await writeFile(configPath, text);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const level = typeof config === 'object' && config.debug ? 'debug' : 'info';
  const logger = pino({ level }, sink);
  const gateway = await startGateway({ configPath, port: 0, host: '127.0.0.1', logger, ...options });
  return {
    gateway,
    url: gateway.url,
    baseURL: `${gateway.url}/v1`,
    configPath,
    dir,
    logs,
    async close() {
      await gateway.close(1000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A provider entry for config objects. */
export function provider(name: string, baseUrl: string, models: Array<string | ({ name: string; alias?: string; 'force-mapping'?: boolean } & Record<string, unknown>)>, extra: Record<string, unknown> = {}) {
  return {
    name,
    'base-url': baseUrl,
    'api-key-entries': [{ 'api-key': `sk-${name}-upstream-key-1234` }],
    models: models.map((m) => (typeof m === 'string' ? { name: m } : m)),
    ...extra,
  };
}

export function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export const chatBody = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: 'user', content: 'Hello' }], ...extra });
