/**
 * POST /v0/management/api-call: a request to a configured provider made on the Management Center's
 * behalf (its model list fetch and "test" buttons), in CLI Proxy API's shape. It is not an open
 * proxy: the URL must lie under a configured provider's base-url (same scheme, host, port, path
 * prefix), only GET and POST, no redirects followed, bounded in size and time. The panel names a
 * key by `authIndex` (`$TOKEN$` in a header) or by its masked form; the key itself stays here, and
 * is masked in whatever the provider echoes back.
 */
import { request } from 'undici';
import type { Config } from '../config/schema.js';
import { maskValue } from '../config/mask.js';
import { maskSecret } from '../observe/logger.js';
import { effectiveProxy } from '../routing/registry.js';
import { invalidBody, isObject, ManagementError, type ManagementRequest, type Reply } from './management-common.js';

const TIMEOUT_MS = 30_000;
const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;
const METHODS = new Set(['GET', 'POST']);
/** Headers the caller may not set: they would change where or how the request goes. */
const REFUSED_HEADERS = new Set(['host', 'connection', 'transfer-encoding', 'content-length', 'proxy-authorization', 'upgrade', 'te', 'trailer', 'keep-alive']);

interface KeyRef {
  readonly authIndex: string;
  readonly key: string | undefined;
  readonly proxyUrl: string | undefined;
}

interface AllowedBase {
  readonly url: URL;
  readonly keys: readonly KeyRef[];
}

/** Every configured provider's base URL with its keys (disabled providers too: the panel tests them). */
function allowedBases(config: Config): AllowedBase[] {
  return config['openai-compatibility'].map((p) => {
    const entries = p['api-key-entries'].length > 0 ? p['api-key-entries'] : [{ 'api-key': undefined, 'proxy-url': undefined }];
    return {
      url: new URL(p['base-url']),
      keys: entries.map((e, i) => ({ authIndex: `${p.name}#${i}`, key: e['api-key'], proxyUrl: effectiveProxy(e['proxy-url'], config['proxy-url']) })),
    };
  });
}

function under(target: URL, base: URL): boolean {
  if (target.protocol !== base.protocol || target.host !== base.host) return false;
  const prefix = base.pathname.replace(/\/+$/, '');
  return target.pathname === prefix || target.pathname.startsWith(`${prefix}/`) || prefix === '';
}

const stringField = (body: Record<string, unknown>, ...names: string[]) => {
  for (const n of names) if (typeof body[n] === 'string' && (body[n] as string).trim() !== '') return (body[n] as string).trim();
  return undefined;
};

/** Replaces `$TOKEN$` and masked forms of the base's keys by the key itself. */
function resolveKeys(value: string, keys: readonly KeyRef[], chosen: KeyRef | undefined): { value: string; used: KeyRef | undefined } {
  let used: KeyRef | undefined;
  if (value.includes('$TOKEN$')) {
    if (!chosen?.key) throw new ManagementError(400, 'auth token not found');
    value = value.replaceAll('$TOKEN$', chosen.key);
    used = chosen;
  }
  for (const ref of keys) {
    if (!ref.key) continue;
    const masked = maskValue('key', ref.key);
    if (masked !== '***' && value.includes(masked)) {
      value = value.replaceAll(masked, ref.key);
      used ??= ref;
    }
  }
  return { value, used };
}

export async function apiCall(req: ManagementRequest): Promise<Reply> {
  const body = await req.json();
  if (!isObject(body)) throw invalidBody();
  const method = (stringField(body, 'method') ?? '').toUpperCase();
  if (!method) throw new ManagementError(400, 'missing method');
  if (!METHODS.has(method)) throw new ManagementError(400, `method ${method} is not allowed; use GET or POST`);
  const urlText = stringField(body, 'url');
  if (!urlText) throw new ManagementError(400, 'missing url');
  let target: URL;
  try {
    target = new URL(urlText);
  } catch {
    throw new ManagementError(400, 'invalid url');
  }
  const snap = req.editor.store.current();
  const base = allowedBases(snap.config).find((b) => under(target, b.url));
  if (!base) throw new ManagementError(403, 'url is not under a configured provider base-url');
  const authIndex = stringField(body, 'authIndex', 'auth_index', 'AuthIndex');
  const chosen = authIndex === undefined ? undefined : base.keys.find((k) => k.authIndex === authIndex);
  if (authIndex !== undefined && !chosen) throw new ManagementError(400, 'auth index does not name a key of this provider');

  const headers: Record<string, string> = { 'user-agent': 'cliproxy' };
  let used = chosen;
  const header = isObject(body.header) ? body.header : {};
  for (const [name, raw] of Object.entries(header)) {
    if (typeof raw !== 'string' || REFUSED_HEADERS.has(name.toLowerCase())) continue;
    const resolved = resolveKeys(raw, base.keys, chosen);
    headers[name.toLowerCase()] = resolved.value;
    used ??= resolved.used;
  }
  const data = typeof body.data === 'string' && body.data !== '' ? body.data : undefined;
  if (data !== undefined && method === 'GET') throw new ManagementError(400, 'a GET carries no data');

  let res;
  try {
    res = await request(target, {
      method: method as 'GET' | 'POST',
      headers,
      body: data,
      dispatcher: req.ctx.rt.dispatchers.get(used?.proxyUrl ?? base.keys[0]?.proxyUrl, snap.timeoutsMs.connect),
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
      // undici's request follows no redirect: a 3xx reaches the panel as it is, off-host or not.
    });
  } catch (err) {
    req.ctx.rt.log.debug({ err: (err as Error).message, url: `${target.origin}${target.pathname}` }, 'management api-call failed');
    throw new ManagementError(502, 'request failed');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        res.body.destroy();
        throw new ManagementError(502, `response larger than ${MAX_RESPONSE_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof ManagementError) throw err;
    throw new ManagementError(502, 'failed to read response');
  }
  let text = Buffer.concat(chunks).toString('utf8');
  const outHeaders: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined || name === 'set-cookie') continue;
    outHeaders[name] = Array.isArray(value) ? value : [value];
  }
  // A provider that echoes the request (debug endpoints) must not hand the key to the panel.
  for (const ref of base.keys) if (ref.key) text = text.replaceAll(ref.key, maskSecret(ref.key));
  return { json: { status_code: res.statusCode, header: outHeaders, body: text } };
}
