/**
 * Secrets in management answers: client keys, upstream keys, credentials in proxy URLs, secret
 * headers and the management hash are shown masked (`sk-or-...b780`). A client that sends a masked
 * value back (GET, change one field, PUT) gets the stored secret kept, not the mask written.
 */
import { isScalar, parseDocument, Scalar, stringify } from 'yaml';
import { maskProxyUrl, maskSecret } from '../observe/logger.js';
import { formatPath } from './load.js';
import { NATIVE_KEYS } from './schema.js';

export type SecretKind = 'key' | 'proxy' | 'hash';
type Path = Array<string | number>;

interface SecretSite {
  readonly path: Path;
  readonly kind: SecretKind;
  readonly value: string;
}

/** A masked value that matches no stored secret (or several): it cannot be written. */
export class MaskedValueError extends Error {
  override readonly name = 'MaskedValueError';
}

/** Header names whose values are credentials. */
const SECRET_HEADER = /auth|key|token|secret|cookie|password/i;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}

export function maskValue(kind: SecretKind, value: string): string {
  return kind === 'proxy' ? (maskProxyUrl(value) ?? value) : maskSecret(value);
}

function looksMasked(kind: SecretKind, value: string): boolean {
  if (kind === 'proxy') {
    try {
      return new URL(value).password === '****';
    } catch {
      return false;
    }
  }
  return value === '***' || /^\S{6}\.\.\.\S{4}$/.test(value);
}

function collect(sites: SecretSite[], path: Path, kind: SecretKind, value: unknown): void {
  if (typeof value !== 'string' || value === '') return;
  if (kind === 'proxy' && !hasPassword(value)) return;
  sites.push({ path, kind, value });
}

/** Where one provider (as in config.yaml or a request body) holds secrets. */
function providerSites(sites: SecretSite[], provider: unknown, at: Path): void {
  if (!isObject(provider)) return;
  asArray(provider['api-key-entries']).forEach((entry, j) => {
    if (!isObject(entry)) return;
    collect(sites, [...at, 'api-key-entries', j, 'api-key'], 'key', entry['api-key']);
    collect(sites, [...at, 'api-key-entries', j, 'proxy-url'], 'proxy', entry['proxy-url']);
  });
  asArray(provider['api-keys']).forEach((key, j) => collect(sites, [...at, 'api-keys', j], 'key', key));
  if (isObject(provider.headers)) {
    for (const [name, value] of Object.entries(provider.headers)) {
      if (SECRET_HEADER.test(name)) collect(sites, [...at, 'headers', name], 'key', value);
    }
  }
}

/** Where a claude-api-key / gemini-api-key / codex-api-key entry holds secrets. */
function nativeKeySites(sites: SecretSite[], entry: unknown, at: Path): void {
  if (!isObject(entry)) return;
  collect(sites, [...at, 'api-key'], 'key', entry['api-key']);
  collect(sites, [...at, 'proxy-url'], 'proxy', entry['proxy-url']);
  if (isObject(entry.headers)) {
    for (const [name, value] of Object.entries(entry.headers)) {
      if (SECRET_HEADER.test(name)) collect(sites, [...at, 'headers', name], 'key', value);
    }
  }
}

/** Where a whole config (file data or parsed Config) holds secrets. */
function configSites(root: unknown): SecretSite[] {
  const sites: SecretSite[] = [];
  if (!isObject(root)) return sites;
  asArray(root['api-keys']).forEach((key, i) => collect(sites, ['api-keys', i], 'key', key));
  collect(sites, ['proxy-url'], 'proxy', root['proxy-url']);
  const management = root['remote-management'];
  if (isObject(management)) collect(sites, ['remote-management', 'secret-key'], 'hash', management['secret-key']);
  asArray(root['openai-compatibility']).forEach((p, i) => providerSites(sites, p, ['openai-compatibility', i]));
  for (const key of NATIVE_KEYS) asArray(root[key]).forEach((entry, i) => nativeKeySites(sites, entry, [key, i]));
  return sites;
}

function setAt(root: unknown, path: Path, value: string): void {
  let node = root as Record<string | number, unknown>;
  for (const part of path.slice(0, -1)) node = node[part] as Record<string | number, unknown>;
  node[path.at(-1)!] = value;
}

/** The stored secrets, to put back in place of masked values a client sends. */
export class SecretBook {
  private readonly byMask = new Map<string, Set<string>>();

  constructor(config: unknown) {
    for (const site of configSites(config)) {
      const key = `${site.kind}\u0000${maskValue(site.kind, site.value)}`;
      let values = this.byMask.get(key);
      if (!values) this.byMask.set(key, (values = new Set()));
      values.add(site.value);
    }
  }

  /** `value` itself, or the stored secret it is the mask of. Throws MaskedValueError. */
  restore(kind: SecretKind, value: string, path: Path): string {
    if (!looksMasked(kind, value)) return value;
    const found = this.byMask.get(`${kind}\u0000${value}`);
    if (found?.size === 1) return [...found][0]!;
    throw new MaskedValueError(
      `${formatPath(path)}: "${value}" is a masked value that matches ${found ? 'several stored secrets' : 'no stored secret'}; send the real value (GET with ?reveal=true shows them)`,
    );
  }
}

/** A copy of config data with its secrets masked (all of them, or only the management hash with reveal). */
export function maskConfig<T>(config: T, reveal = false): T {
  const copy = structuredClone(config);
  for (const site of configSites(copy)) {
    if (!reveal || site.kind === 'hash') setAt(copy, site.path, maskValue(site.kind, site.value));
  }
  return copy;
}

/** Masks the secrets of a list of providers (GET openai-compatibility). */
export function maskProviders<T>(providers: readonly T[], reveal = false): T[] {
  return maskConfig({ 'openai-compatibility': [...providers] }, reveal)['openai-compatibility'];
}

/** Masks the secrets of one native key list (GET claude-api-key etc.). */
export function maskNativeKeys<T>(key: (typeof NATIVE_KEYS)[number], entries: readonly T[], reveal = false): T[] {
  return (maskConfig({ [key]: [...entries] }, reveal) as Record<string, T[]>)[key]!;
}

/** A copy of request data (a config or `{ 'openai-compatibility': [...] }`) with masked values restored. */
export function restoreSecrets<T>(data: T, book: SecretBook): T {
  const copy = structuredClone(data);
  for (const site of configSites(copy)) setAt(copy, site.path, book.restore(site.kind, site.value, site.path));
  return copy;
}

/**
 * A replacement scalar written in the style the file used (plain stays plain, 'single' stays
 * single-quoted), so that masking and restoring change the value and nothing else; double quotes
 * when that style cannot hold the value.
 */
function scalarText(value: string, type: Scalar['type']): string {
  if (!/[\n\r]/.test(value)) {
    if (type === Scalar.PLAIN) {
      const plain = stringify(value, { defaultStringType: 'PLAIN', lineWidth: 0 }).trimEnd();
      if (!plain.includes('\n')) return plain; // stringify quotes what plain cannot hold (`***`, `a: b`)
    }
    if (type === Scalar.QUOTE_SINGLE) return `'${value.replace(/'/g, "''")}'`;
  }
  return JSON.stringify(value);
}

/** The quoting style of each secret value in a YAML text. */
function secretStyles(text: string): Map<string, Scalar['type']> {
  const styles = new Map<string, Scalar['type']>();
  const doc = parseDocument(text);
  if (doc.errors.length > 0) return styles;
  for (const site of configSites(doc.toJS())) {
    const node = doc.getIn(site.path, true);
    if (isScalar(node)) styles.set(site.value, node.type);
  }
  return styles;
}

/**
 * Rewrites the secret values of YAML text in place (every other byte kept): masks them, or
 * restores masked ones. Returns the text unchanged when it is not YAML.
 */
export function rewriteYamlSecrets(text: string, mode: { mask: true } | { restore: SecretBook; styleOf?: string }): string {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) return text;
  // A restored secret takes the quoting it has in the file it came from (a `***` mask had to be quoted).
  const styles = 'restore' in mode && mode.styleOf !== undefined ? secretStyles(mode.styleOf) : undefined;
  const edits: Array<{ from: number; to: number; value: string; type: Scalar['type']; path: Path }> = [];
  for (const site of configSites(doc.toJS())) {
    const node = doc.getIn(site.path, true);
    if (!isScalar(node) || !node.range) continue;
    const value = 'mask' in mode ? maskValue(site.kind, site.value) : mode.restore.restore(site.kind, site.value, site.path);
    const type = styles?.get(value) ?? node.type;
    if (value !== site.value) edits.push({ from: node.range[0], to: node.range[1], value, type, path: site.path });
  }
  const splice = (keepStyle: boolean) => {
    let out = text;
    for (const e of [...edits].sort((a, b) => b.from - a.from)) {
      out = out.slice(0, e.from) + (keepStyle ? scalarText(e.value, e.type) : JSON.stringify(e.value)) + out.slice(e.to);
    }
    return out;
  };
  const out = splice(true);
  // A plain scalar that reads back differently in its context (a flow list, say): quote them all.
  const check = parseDocument(out);
  const same = check.errors.length === 0 && edits.every((e) => check.getIn(e.path) === e.value);
  return same ? out : splice(false);
}
