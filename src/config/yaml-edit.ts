/**
 * In-place edits of a yaml Document that keep what the operator wrote: a value is merged into the
 * node already there (a scalar keeps its node, hence its comment and quoting; a mapping keeps its
 * pairs and their order; a sequence keeps the items it still holds), instead of replacing the node.
 */
import { isMap, isNode, isScalar, isSeq, type Document, type Node, type YAMLMap, type YAMLSeq } from 'yaml';

type Path = readonly (string | number)[];

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

const isPrimitive = (v: unknown): v is string | number | boolean =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/**
 * A key absent from the file and set to one of these means the same as before (every flag of the
 * schema defaults to false, every list and map to empty): such keys are not written, so a client
 * that PUTs back what GET showed does not fill the file with defaults.
 */
function isEmptyDefault(v: unknown): boolean {
  if (v === false || v === null || v === undefined) return true;
  if (Array.isArray(v)) return v.length === 0;
  return isPlainObject(v) && Object.keys(v).length === 0;
}

/** What identifies a list item across edits: its value, its `name`, or its `api-key`. */
function identity(v: unknown): string | undefined {
  if (isPrimitive(v)) return `v:${JSON.stringify(v)}`;
  if (isPlainObject(v)) {
    if (typeof v.name === 'string') return `n:${v.name}`;
    if (typeof v['api-key'] === 'string') return `k:${v['api-key']}`;
  }
  return undefined;
}

const keyOf = (key: unknown): unknown => (isScalar(key) ? key.value : key);

function mergeMap(doc: Document, node: YAMLMap, value: Record<string, unknown>): void {
  for (const [key, next] of Object.entries(value)) {
    const pair = node.items.find((p) => keyOf(p.key) === key);
    if (next === null || next === undefined) {
      if (pair) node.delete(pair.key);
    } else if (!pair) {
      if (!isEmptyDefault(next)) node.set(key, doc.createNode(next));
    } else if (!(isNode(pair.value) && mergeNode(doc, pair.value, next))) {
      pair.value = doc.createNode(next);
    }
  }
  for (const pair of [...node.items]) {
    if (!Object.hasOwn(value, String(keyOf(pair.key)))) node.delete(pair.key);
  }
}

function mergeSeq(doc: Document, node: YAMLSeq, value: readonly unknown[]): void {
  const unused = [...node.items];
  node.items = value.map((next) => {
    const id = identity(next);
    const at = id === undefined ? -1 : unused.findIndex((n) => identity(isNode(n) ? n.toJSON() : n) === id);
    if (at >= 0) {
      const [reused] = unused.splice(at, 1);
      if (isNode(reused) && mergeNode(doc, reused, next)) return reused;
    }
    return doc.createNode(next);
  });
}

/** Merges `value` into `node`; false when the node cannot hold it (the caller replaces it). */
function mergeNode(doc: Document, node: Node, value: unknown): boolean {
  if (isScalar(node) && isPrimitive(value) && typeof node.value === typeof value) {
    node.value = value;
    return true;
  }
  if (isMap(node) && isPlainObject(value)) {
    // An empty `{}` that gains entries is written as a block, like the rest of the file.
    if (node.flow && node.items.length === 0) node.flow = false;
    mergeMap(doc, node, value);
    return true;
  }
  if (isSeq(node) && Array.isArray(value)) {
    if (node.flow && node.items.length === 0) node.flow = false;
    mergeSeq(doc, node, value);
    return true;
  }
  return false;
}

/** Sets the value at `path`, merging into what is there; `null` removes the key. */
export function setValue(doc: Document, path: Path, value: unknown): void {
  if (value === null || value === undefined) {
    if (doc.hasIn(path)) doc.deleteIn(path);
    return;
  }
  const existing = doc.getIn(path, true);
  if (isNode(existing) && mergeNode(doc, existing, value)) return;
  doc.setIn(path, doc.createNode(value));
}

/** The JSON value at `path` (plain data, not nodes). */
export function valueAt(doc: Document, path: Path): unknown {
  const node = doc.getIn(path, true);
  return isNode(node) ? node.toJSON() : node;
}

/** Rendering options that follow the file's own style (indent width, `- ` under or beside a key). */
export function styleOf(source: string): { indent: number; indentSeq: boolean; lineWidth: number } {
  const text = source.replace(/\r\n/g, '\n');
  let indent = 0;
  for (const m of text.matchAll(/^( +)[^\s#-]/gm)) {
    const width = m[1]!.length;
    if (indent === 0 || width < indent) indent = width;
  }
  const seq = /^( *)[^\s#-][^\n]*:[ \t]*(?:#[^\n]*)?\n(?:[ \t]*(?:#[^\n]*)?\n)*( *)- /m.exec(text);
  return {
    indent: indent >= 2 && indent <= 8 ? indent : 2,
    indentSeq: seq ? seq[2]!.length > seq[1]!.length : true,
    // Never fold long values onto several lines: the file should change only where it was edited.
    lineWidth: 0,
  };
}
