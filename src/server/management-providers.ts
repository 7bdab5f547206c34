/**
 * /v0/management/openai-compatibility, accepting both the seed's request shapes and CLI Proxy
 * API's: PUT takes `{"openai-compatibility": [...]}`, `{"items": [...]}` or a bare array; PATCH
 * `{"name", <fields>}` or `{"name"|"index", "value": {<fields>}}`; DELETE a `{"name"}` body,
 * `?name=` or `?index=`. Every change is made inside the editor's queue, against the config it is
 * applied to, so a concurrent edit can never be overwritten by a stale index.
 */
import type { Document } from 'yaml';
import { formatPath } from '../config/load.js';
import { maskProviders, restoreSecrets, SecretBook } from '../config/mask.js';
import { providerSchema, type Config } from '../config/schema.js';
import { setValue, valueAt } from '../config/yaml-edit.js';
import {
  applyEdit,
  indexOf,
  invalidBody,
  isObject,
  itemNotFound,
  ManagementError,
  type ManagementRequest,
  type Reply,
  type Routes,
} from './management-common.js';

const KEY = 'openai-compatibility';

interface Selector {
  readonly name?: string;
  readonly index?: number;
}

function itemsOf(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (isObject(body)) {
    if (Array.isArray(body[KEY])) return body[KEY];
    if (Array.isArray(body.items)) return body.items;
  }
  throw invalidBody(`expected {"${KEY}": [...]}, {"items": [...]} or an array of providers`);
}

/** 400 naming the first invalid fields, e.g. `openai-compatibility[1].base-url: expected an http(s) URL`. */
function validateProvider(provider: unknown, at: number): void {
  const result = providerSchema.safeParse(provider);
  if (result.success) return;
  const issues = result.error.issues.slice(0, 3).map((i) => `${formatPath([KEY, at, ...i.path])}: ${i.message}`);
  throw new ManagementError(400, issues.join('; '));
}

function checkUniqueNames(providers: readonly unknown[]): void {
  const seen = new Set<unknown>();
  for (const p of providers) {
    const name = isObject(p) ? p.name : undefined;
    if (seen.has(name)) throw new ManagementError(400, `${KEY}: duplicate provider name "${String(name)}"`);
    seen.add(name);
  }
}

/** CLI Proxy API's order: a valid index wins, then the name. */
function find(config: Config, selector: Selector): number {
  const list = config[KEY];
  if (selector.index !== undefined && selector.index < list.length) return selector.index;
  const name = selector.name?.trim();
  if (name !== undefined) return list.findIndex((p) => p.name === name);
  return -1;
}

function restoreProvider(config: Config, provider: unknown): unknown {
  return restoreSecrets({ [KEY]: [provider] }, new SecretBook(config))[KEY][0];
}

/** Discovery state per provider name (models found, when, last failure), beside the list. */
function discoveryOf(req: ManagementRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, s] of req.editor.store.current().discovery) {
    out[name] = {
      models: s.models ?? [],
      'updated-at': s.updatedAt ? new Date(s.updatedAt).toISOString() : null,
      'attempted-at': new Date(s.attemptedAt).toISOString(),
      ...(s.error ? { error: s.error, stale: s.models !== undefined } : {}),
    };
  }
  return out;
}

/**
 * `auth-index` (answer-only, as CLI Proxy API): names a key without revealing it, so that the
 * Management Center's `api-call` can ask for a request with that key (`$TOKEN$`).
 */
function withAuthIndex(provider: Record<string, unknown>): Record<string, unknown> {
  const entries = Array.isArray(provider['api-key-entries']) ? (provider['api-key-entries'] as Record<string, unknown>[]) : [];
  return {
    ...provider,
    'auth-index': `${String(provider.name)}#0`,
    'api-key-entries': entries.map((entry, i) => ({ ...entry, 'auth-index': `${String(provider.name)}#${i}` })),
  };
}

async function getProviders(req: ManagementRequest): Promise<Reply> {
  const providers = maskProviders(req.editor.store.current().config[KEY], req.reveal) as unknown as Record<string, unknown>[];
  return { json: { [KEY]: providers.map(withAuthIndex), 'discovered-models': discoveryOf(req) } };
}

async function putProviders(req: ManagementRequest): Promise<Reply> {
  const items = itemsOf(await req.json());
  items.forEach(validateProvider);
  checkUniqueNames(items);
  return applyEdit(req, ({ doc, config }) => {
    setValue(doc, [KEY], restoreSecrets({ [KEY]: items }, new SecretBook(config))[KEY]);
  });
}

function parsePatch(body: unknown): { selector: Selector; fields: Record<string, unknown> } {
  if (!isObject(body)) throw invalidBody('expected a JSON object');
  const name = typeof body.name === 'string' ? body.name : undefined;
  if (isObject(body.value)) return { selector: { name, index: indexOf(body.index) }, fields: body.value };
  if (name === undefined) throw invalidBody('expected {"name": ..., <fields>} or {"name"|"index": ..., "value": {<fields>}}');
  const { name: _name, ...fields } = body;
  return { selector: { name }, fields };
}

function patchFields(doc: Document, at: number, fields: Record<string, unknown>): void {
  for (const [field, value] of Object.entries(fields)) setValue(doc, [KEY, at, field], value);
  // The legacy plain `api-keys` list is merged into api-key-entries on load: new entries replace both.
  if ('api-key-entries' in fields && !('api-keys' in fields) && doc.hasIn([KEY, at, 'api-keys'])) {
    doc.deleteIn([KEY, at, 'api-keys']);
  }
}

async function patchProvider(req: ManagementRequest): Promise<Reply> {
  const { selector, fields } = parsePatch(await req.json());
  if (selector.name === undefined && selector.index === undefined) throw invalidBody('missing name or index');
  if (Object.keys(fields).length === 0) throw invalidBody('no fields to update');
  return applyEdit(req, ({ doc, config }) => {
    const at = find(config, selector);
    if (at < 0) throw itemNotFound();
    patchFields(doc, at, restoreProvider(config, fields) as Record<string, unknown>);
    validateProvider(valueAt(doc, [KEY, at]), at);
    checkUniqueNames(valueAt(doc, [KEY]) as unknown[]);
  });
}

async function deleteProvider(req: ManagementRequest): Promise<Reply> {
  const body = await req.json();
  const fromBody = isObject(body) ? body : {};
  const name = req.query.get('name') ?? (typeof fromBody.name === 'string' ? fromBody.name : undefined);
  const index = indexOf(req.query.get('index') ?? fromBody.index);
  if (name === undefined && index === undefined) throw invalidBody('missing name or index');
  return applyEdit(req, ({ doc, config }) => {
    const at = find(config, { name, index });
    if (at < 0) throw itemNotFound();
    doc.deleteIn([KEY, at]);
  });
}

export const providerRoutes: Routes = {
  '/openai-compatibility': { GET: getProviders, PUT: putProviders, PATCH: patchProvider, DELETE: deleteProvider },
};
