/**
 * Helpers for management and reload tests: a commented config.yaml, management calls, the model
 * list, requests from a chosen loopback source address, and polling.
 */
import { request } from 'node:http';
import { CLIENT_KEY, type TestProxy } from './proxy.js';

export const SECRET = 'mgmt-secret-for-tests-0001';
export const OR_KEY = 'sk-or-v1-upstream-secret-b780';
export const GROQ_KEY = 'gsk-groq-upstream-secret-9911';

/** A config.yaml as an operator writes it: comments, aligned notes, a key cliproxy does not use. */
export function configText(upstreamUrl: string, extra = ''): string {
  return `# cliproxy test config
api-keys:
  - "${CLIENT_KEY}"   # the test client
debug: false            # verbose logs
request-retry: 3
remote-management:
  secret-key: "${SECRET}"   # plaintext here: hashed at startup
usage-statistics-enabled: true   # a CLI Proxy API key cliproxy does not use
openai-compatibility:
  # the main provider
  - name: "openrouter"
    base-url: "${upstreamUrl}"
    api-key-entries:
      - api-key: "${OR_KEY}"
    models:
      - name: "anthropic/claude-3.5-sonnet"   # upstream name
        alias: "openrouter-claude"
  - name: "groq"
    base-url: "${upstreamUrl}"
    api-key-entries:
      - api-key: "${GROQ_KEY}"
    models:
      - name: "llama-3.3-70b-versatile"
        alias: "groq-llama"
${extra}`;
}

export interface Answer {
  readonly status: number;
  readonly json: any;
  readonly text: string;
  readonly headers: Headers;
}

export interface CallOptions {
  /** The management key to send; null sends none. Defaults to SECRET. */
  readonly key?: string | null;
  /** Send it as X-Management-Key instead of Authorization: Bearer. */
  readonly asHeader?: boolean;
  /** A raw body (e.g. YAML) instead of JSON. */
  readonly raw?: string;
}

/** One management API call: `call(proxy, 'PATCH', '/openai-compatibility', {...})`. */
export async function call(proxy: { url: string }, method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  const key = options.key === undefined ? SECRET : options.key;
  if (key !== null) {
    if (options.asHeader) headers['x-management-key'] = key;
    else headers.authorization = `Bearer ${key}`;
  }
  const payload = options.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  if (payload !== undefined) headers['content-type'] = options.raw === undefined ? 'application/json' : 'application/yaml';
  const res = await fetch(`${proxy.url}/v0/management${path}`, { method, headers, body: payload });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** Client-visible model ids from /v1/models. */
export async function modelIds(proxy: TestProxy | { url: string }): Promise<string[]> {
  const res = await fetch(`${proxy.url}/v1/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
  const body = (await res.json()) as { data: Array<{ id: string }> };
  return body.data.map((m) => m.id);
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes; returns the value or throws. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A GET sent from a chosen local source address (all of 127.0.0.0/8 is loopback on Linux). */
export function getFrom(localAddress: string, url: string, headers: Record<string, string>): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
