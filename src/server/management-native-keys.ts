/**
 * /v0/management/claude-api-key, /gemini-api-key and /codex-api-key, with CLI Proxy API's request
 * shapes and the conventions of the openai-compatibility routes: GET masks keys (`?reveal=true`
 * shows them); PUT takes `{"<key>": [...]}`, `{"items": [...]}` or a bare array; PATCH
 * `{"index"|"match": ..., "value": {<fields>}}` where `match` is an entry's api-key (its mask works
 * too) and `?base-url=` narrows it; DELETE `?api-key=` (with optional `&base-url=`), `?index=`, or
 * the same fields in a body. Every change runs inside the editor's queue, against the config it is
 * applied to.
 */
import type { Document } from 'yaml';
import { formatPath } from '../config/load.js';
import { maskNativeKeys, restoreSecrets, SecretBook } from '../config/mask.js';
import { NATIVE_KEYS, nativeKeySchema, type Config, type NativeKey } from '../config/schema.js';
import { setValue, valueAt } from '../config/yaml-edit.js';
import { applyEdit, indexOf, invalidBody, isObject, itemNotFound, ManagementError, type ManagementRequest, type Reply, type Routes } from './management-common.js';

interface Selector {
  readonly index?: number;
  readonly apiKey?: string;
  readonly baseUrl?: string;
}

function itemsOf(key: NativeKey, body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (isObject(body)) {
    if (Array.isArray(body[key])) return body[key];
    if (Array.isArray(body.items)) return body.items;
  }
  throw invalidBody(`expected {"${key}": [...]}, {"items": [...]} or an array of entries`);
}

/** 400 naming the first invalid fields, e.g. `codex-api-key[0].base-url: required`. */
function validate(key: NativeKey, entry: unknown, at: number): void {
  const result = nativeKeySchema(key === 'codex-api-key').safeParse(entry);
  if (result.success) return;
  const issues = result.error.issues.slice(0, 3).map((i) => `${formatPath([key, at, ...i.path])}: ${i.message}`);
  throw new ManagementError(400, issues.join('; '));
}

/** The stored key a (possibly masked) value names. */
function restoreKey(config: Config, key: NativeKey, value: string): string {
  return new SecretBook(config).restore('key', value, [key, 'match']);
}

/** A valid index wins; else the entries whose api-key (and base-url, if given) match — exactly one. */
function find(config: Config, key: NativeKey, selector: Selector): number {
  const list = config[key];
  if (selector.index !== undefined) return selector.index < list.length ? selector.index : -1;
  if (selector.apiKey === undefined) return -1;
  const apiKey = restoreKey(config, key, selector.apiKey.trim());
  const matches: number[] = [];
  list.forEach((entry, i) => {
    if ((entry['api-key'] ?? '') !== apiKey) return;
    if (selector.baseUrl !== undefined && (entry['base-url'] ?? '') !== selector.baseUrl.trim()) return;
    matches.push(i);
  });
  if (matches.length > 1) throw new ManagementError(400, 'multiple items match; index is required');
  return matches[0] ?? -1;
}

function routes(key: NativeKey): Routes[string] {
  const restore = (config: Config, items: unknown[]) => restoreSecrets({ [key]: items }, new SecretBook(config))[key] as unknown[];

  async function get(req: ManagementRequest): Promise<Reply> {
    return { json: { [key]: maskNativeKeys(key, req.editor.store.current().config[key], req.reveal) } };
  }

  async function put(req: ManagementRequest): Promise<Reply> {
    const items = itemsOf(key, await req.json());
    items.forEach((item, i) => validate(key, item, i));
    return applyEdit(req, ({ doc, config }) => setValue(doc, [key], restore(config, items)));
  }

  async function patch(req: ManagementRequest): Promise<Reply> {
    const body = await req.json();
    if (!isObject(body) || !isObject(body.value)) throw invalidBody('expected {"index"|"match": ..., "value": {<fields>}}');
    const fields = body.value;
    if (Object.keys(fields).length === 0) throw invalidBody('no fields to update');
    const selector: Selector = {
      index: indexOf(body.index),
      apiKey: typeof body.match === 'string' ? body.match : undefined,
      baseUrl: req.query.get('base-url') ?? undefined,
    };
    if (selector.index === undefined && selector.apiKey === undefined) throw invalidBody('missing index or match');
    return applyEdit(req, ({ doc, config }) => {
      const at = find(config, key, selector);
      if (at < 0) throw itemNotFound();
      const restored = restoreSecrets({ [key]: [fields] }, new SecretBook(config))[key] as Array<Record<string, unknown>>;
      patchFields(doc, key, at, restored[0]!);
      validate(key, valueAt(doc, [key, at]), at);
    });
  }

  async function remove(req: ManagementRequest): Promise<Reply> {
    const body = await req.json();
    const fromBody = isObject(body) ? body : {};
    const apiKey = req.query.get('api-key') ?? (typeof fromBody['api-key'] === 'string' ? fromBody['api-key'] : undefined);
    const baseUrl = req.query.get('base-url') ?? (typeof fromBody['base-url'] === 'string' ? fromBody['base-url'] : undefined);
    const index = indexOf(req.query.get('index') ?? fromBody.index);
    if (apiKey === undefined && index === undefined) throw invalidBody('missing api-key or index');
    return applyEdit(req, ({ doc, config }) => {
      const at = find(config, key, { index, apiKey, baseUrl });
      if (at < 0) throw itemNotFound();
      doc.deleteIn([key, at]);
    });
  }

  return { GET: get, PUT: put, PATCH: patch, DELETE: remove };
}

/** `null` removes a field (back to its default), anything else sets it. */
function patchFields(doc: Document, key: NativeKey, at: number, fields: Record<string, unknown>): void {
  for (const [field, value] of Object.entries(fields)) {
    if (value === null) doc.deleteIn([key, at, field]);
    else setValue(doc, [key, at, field], value);
  }
}

export const nativeKeyRoutes: Routes = Object.fromEntries(NATIVE_KEYS.map((key) => [`/${key}`, routes(key)]));
