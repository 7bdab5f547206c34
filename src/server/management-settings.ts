/**
 * /v0/management: the client `api-keys` list, the scalar settings, and the whole config (as JSON,
 * masked; the file itself is management-config-file.ts). Same conventions as CLI Proxy API's management API.
 */
import { maskConfig, maskValue, restoreSecrets, SecretBook } from '../config/mask.js';
import { configSchema } from '../config/schema.js';
import { setValue } from '../config/yaml-edit.js';
import { maskSecret } from '../observe/logger.js';
import {
  applyEdit,
  asManagementError,
  indexOf,
  invalidBody,
  isObject,
  itemNotFound,
  ManagementError,
  OK,
  type Handler,
  type ManagementRequest,
  type Reply,
  type Routes,
} from './management-common.js';

const current = (req: ManagementRequest) => req.editor.store.current();

// ---- api-keys ----------------------------------------------------------------------------

async function getApiKeys(req: ManagementRequest): Promise<Reply> {
  const keys = current(req).config['api-keys'];
  return { json: { 'api-keys': req.reveal ? keys : keys.map(maskSecret) } };
}

function keyList(body: unknown): string[] {
  const list = Array.isArray(body) ? body : isObject(body) ? (body['api-keys'] ?? body.items) : undefined;
  if (!Array.isArray(list) || !list.every((k) => typeof k === 'string' && k.trim() !== '')) {
    throw invalidBody('expected {"api-keys": [...]}, {"items": [...]} or an array of non-empty strings');
  }
  return list;
}

async function putApiKeys(req: ManagementRequest): Promise<Reply> {
  const keys = keyList(await req.json());
  return applyEdit(req, ({ doc, config }) => setValue(doc, ['api-keys'], restoreSecrets({ 'api-keys': keys }, new SecretBook(config))['api-keys']));
}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

async function patchApiKeys(req: ManagementRequest): Promise<Reply> {
  const body = await req.json();
  if (!isObject(body)) throw invalidBody('expected {"old", "new"} or {"index", "value"}');
  const index = indexOf(body.index);
  if (index !== undefined && nonEmpty(body.value)) {
    const value = body.value;
    return applyEdit(req, ({ doc, config }) => {
      if (index >= config['api-keys'].length) throw itemNotFound();
      setValue(doc, ['api-keys', index], value);
    });
  }
  if (nonEmpty(body.old) && nonEmpty(body.new)) {
    const [old, next] = [body.old, body.new];
    return applyEdit(req, ({ doc, config }) => {
      // `old` may be the masked form GET showed.
      const at = config['api-keys'].indexOf(new SecretBook(config).restore('key', old, ['old']));
      if (at < 0) throw itemNotFound();
      setValue(doc, ['api-keys', at], next);
    });
  }
  throw invalidBody('missing fields: expected {"old", "new"} or {"index", "value"}');
}

async function deleteApiKey(req: ManagementRequest): Promise<Reply> {
  const index = indexOf(req.query.get('index'));
  const value = req.query.get('value')?.trim();
  if (index === undefined && !value) throw invalidBody('missing index or value');
  return applyEdit(req, ({ doc, config }) => {
    const keys = config['api-keys'];
    if (index !== undefined) {
      if (index >= keys.length) throw itemNotFound();
      doc.deleteIn(['api-keys', index]);
      return;
    }
    const real = new SecretBook(config).restore('key', value!, ['value']);
    const kept = keys.filter((k) => k.trim() !== real);
    if (kept.length === keys.length) throw itemNotFound();
    setValue(doc, ['api-keys'], kept);
  });
}

// ---- scalars -----------------------------------------------------------------------------

const SCALARS = ['debug', 'proxy-url', 'request-retry', 'max-retry-credentials', 'max-retry-interval', 'request-log', 'logs-max-total-size-mb'] as const;
type ScalarKey = (typeof SCALARS)[number];

function getScalar(key: ScalarKey): Handler {
  return async (req) => {
    const value = current(req).config[key];
    if (key !== 'proxy-url') return { json: { [key]: value } };
    const url = (value as string | undefined) ?? '';
    return { json: { [key]: req.reveal || !url ? url : maskValue('proxy', url) } };
  };
}

function setScalar(key: ScalarKey): Handler {
  return async (req) => {
    const body = await req.json();
    if (!isObject(body) || !('value' in body)) throw invalidBody('expected {"value": ...}');
    let value = body.value;
    const checked = value === null ? { success: false as const } : configSchema.shape[key].safeParse(value);
    if (!checked.success) {
      const message = 'error' in checked ? checked.error.issues[0]?.message : undefined;
      throw new ManagementError(400, `${key}: ${message ?? 'invalid value'}`);
    }
    return applyEdit(req, ({ doc, config }) => {
      if (key === 'proxy-url' && typeof value === 'string') value = new SecretBook(config).restore('proxy', value, [key]);
      // An unset proxy-url stays unset rather than becoming `proxy-url: ""`.
      if (value === '' && !doc.has(key)) return;
      setValue(doc, [key], value);
    });
  };
}

/** CLI Proxy API clears proxy-url to "" (the line and its comment stay). */
async function deleteProxyUrl(req: ManagementRequest): Promise<Reply> {
  return applyEdit(req, ({ doc }) => {
    if (doc.has('proxy-url')) setValue(doc, ['proxy-url'], '');
  });
}

// ---- whole config ------------------------------------------------------------------------

async function getConfig(req: ManagementRequest): Promise<Reply> {
  return { json: maskConfig(current(req).config) };
}

export const settingsRoutes: Routes = {
  '/api-keys': { GET: getApiKeys, PUT: putApiKeys, PATCH: patchApiKeys, DELETE: deleteApiKey },
  ...Object.fromEntries(
    SCALARS.map((key) => [
      `/${key}`,
      { GET: getScalar(key), PUT: setScalar(key), PATCH: setScalar(key), ...(key === 'proxy-url' ? { DELETE: deleteProxyUrl } : {}) },
    ]),
  ),
  '/config': { GET: getConfig },
};
