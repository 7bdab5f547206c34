/**
 * gjson/sjson-style paths over parsed JSON, as CLI Proxy API's payload rules write them:
 * `a.b.c`, array indexes (`messages.0.role`), `-1` to append, `\.` for a literal dot, `:3` for an
 * object key that looks like a number, `#` for an array's length, and queries `#(...)` (first
 * match) / `#(...)#` (every match) with `==`, `!=`, `<`, `<=`, `>`, `>=`, `%` (wildcard), `!%`,
 * joined by `&&` / `||`. No npm package speaks this dialect (JSONPath and dot-prop libraries
 * differ in arrays, escapes and queries), so it is written here, small and tested.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A concrete location: object keys and array indexes. */
export type Segments = readonly (string | number)[];

/** Splits a path at unescaped dots outside `#(...)` and quotes. */
export function splitPath(path: string): string[] {
  const parts: string[] = [];
  let current = '';
  let depth = 0;
  let quote = '';
  for (let i = 0; i < path.length; i++) {
    const ch = path[i]!;
    if (ch === '\\' && i + 1 < path.length) {
      // Inside a query the escape belongs to the query text; outside it escapes a dot or wildcard.
      current += depth > 0 ? ch + path[i + 1] : path[i + 1];
      i++;
      continue;
    }
    if (quote) {
      if (ch === quote) quote = '';
      current += ch;
      continue;
    }
    if (depth > 0 && (ch === '"' || ch === "'")) quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')' && depth > 0) depth--;
    else if (ch === '.' && depth === 0) {
      parts.push(current);
      current = '';
      continue;
    }
    current += ch;
  }
  parts.push(current);
  return parts;
}

const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const INDEX = /^(0|[1-9]\d*)$/;

/** The value at one path part below `node` (undefined when absent). */
function child(node: Json | undefined, part: string): Json | undefined {
  if (Array.isArray(node)) {
    if (part === '#') return node.length;
    return INDEX.test(part) ? node[Number(part)] : undefined;
  }
  if (isObject(node)) {
    const key = part.startsWith(':') ? part.slice(1) : part;
    return Object.hasOwn(node, key) ? node[key] : undefined;
  }
  return undefined;
}

interface Query {
  readonly text: string;
  readonly all: boolean;
}

function parseQuery(part: string): Query | undefined {
  if (!part.startsWith('#(')) return undefined;
  const all = part.endsWith(')#');
  if (!all && !part.endsWith(')')) return undefined;
  return { text: part.slice(2, all ? -2 : -1).trim(), all };
}

/**
 * Every concrete location a path names in `doc`: one for a plain path (whether it exists or not,
 * so that it can be set), one per matching element for queries (none when nothing matches).
 */
export function resolvePaths(doc: Json, path: string): Segments[] {
  if (path.trim() === '') return [];
  let results: { segments: (string | number)[]; node: Json | undefined }[] = [{ segments: [], node: doc }];
  for (const part of splitPath(path.trim())) {
    const query = parseQuery(part);
    const next: typeof results = [];
    for (const r of results) {
      if (query) {
        if (!Array.isArray(r.node)) continue;
        for (let i = 0; i < r.node.length; i++) {
          if (!queryMatches(r.node[i]!, query.text)) continue;
          next.push({ segments: [...r.segments, i], node: r.node[i] });
          if (!query.all) break;
        }
      } else {
        const segment = Array.isArray(r.node) && INDEX.test(part) ? Number(part) : part.startsWith(':') ? part.slice(1) : part;
        next.push({ segments: [...r.segments, segment], node: child(r.node, part) });
      }
    }
    results = next;
    if (results.length === 0) return [];
  }
  return results.map((r) => r.segments);
}

/** The value at a path (the first location when a query matches several); `#` gives a length. */
export function getPath(doc: Json, path: string): Json | undefined {
  if (!path.includes('#(')) {
    let node: Json | undefined = doc;
    for (const part of splitPath(path.trim())) node = child(node, part);
    return node;
  }
  const [first] = resolvePaths(doc, path);
  return first ? getAt(doc, first) : undefined;
}

/** The value at concrete segments. */
export function getAt(doc: Json, segments: Segments): Json | undefined {
  let node: Json | undefined = doc;
  for (const s of segments) {
    if (Array.isArray(node) && typeof s === 'number') node = node[s];
    else if (isObject(node) && Object.hasOwn(node, String(s))) node = node[String(s)];
    else return undefined;
  }
  return node;
}

/**
 * Sets a value at concrete segments, creating objects (or arrays, for a numeric next segment) on
 * the way, as sjson does; `-1` appends to an array. Returns false when a scalar is in the way.
 */
export function setAt(doc: Json, segments: Segments, value: Json): boolean {
  if (segments.length === 0) return false;
  let node: Json = doc;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    const next = segments[i + 1];
    const fresh = (): Json => (typeof next === 'number' || (typeof next === 'string' && (next === '-1' || INDEX.test(next))) ? [] : {});
    if (Array.isArray(node)) {
      const index = s === '-1' || s === -1 ? node.length : typeof s === 'number' ? s : INDEX.test(s) ? Number(s) : NaN;
      if (Number.isNaN(index)) return false;
      while (node.length < index) node.push(null);
      if (last) node[index] = value;
      else if (node[index] === undefined || node[index] === null || typeof node[index] !== 'object') node[index] = fresh();
      node = node[index]!;
    } else if (isObject(node)) {
      const key = String(s);
      if (last) node[key] = value;
      else if (node[key] === undefined || node[key] === null || typeof node[key] !== 'object') node[key] = fresh();
      node = node[key]!;
    } else {
      return false;
    }
  }
  return true;
}

/** Removes the value at concrete segments (an array element is spliced out). */
export function deleteAt(doc: Json, segments: Segments): boolean {
  if (segments.length === 0) return false;
  const parent = getAt(doc, segments.slice(0, -1));
  const last = segments[segments.length - 1]!;
  if (Array.isArray(parent)) {
    const index = typeof last === 'number' ? last : INDEX.test(last) ? Number(last) : -1;
    if (index < 0 || index >= parent.length) return false;
    parent.splice(index, 1);
    return true;
  }
  if (isObject(parent) && Object.hasOwn(parent, String(last))) {
    delete parent[String(last)];
    return true;
  }
  return false;
}

// ---- queries -------------------------------------------------------------------------------

/** Splits at a logical operator outside quotes and parentheses. */
function splitLogical(text: string, op: '&&' | '||'): string[] {
  const parts: string[] = [];
  let start = 0;
  let depth = 0;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\') {
      i++;
      continue;
    }
    if (quote) {
      if (ch === quote) quote = '';
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (depth === 0 && text.startsWith(op, i)) {
      parts.push(text.slice(start, i).trim());
      start = i + op.length;
      i += op.length - 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

export function queryMatches(item: Json, query: string): boolean {
  return splitLogical(query, '||').some((any) => splitLogical(any, '&&').every((term) => termMatches(item, term)));
}

const OPERATORS = ['==', '!=', '<=', '>=', '!%', '=', '<', '>', '%'] as const;

/** Position and operator of the first comparison outside quotes and parentheses. */
function findOperator(term: string): [number, (typeof OPERATORS)[number]] | undefined {
  let depth = 0;
  let quote = '';
  for (let i = 0; i < term.length; i++) {
    const ch = term[i]!;
    if (ch === '\\') {
      i++;
      continue;
    }
    if (quote) {
      if (ch === quote) quote = '';
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (depth === 0) for (const op of OPERATORS) if (term.startsWith(op, i)) return [i, op];
  }
  return undefined;
}

function parseLiteral(text: string): Json | undefined {
  const t = text.trim();
  if (t.startsWith("'") && t.endsWith("'") && t.length >= 2) return t.slice(1, -1).replace(/\\(.)/g, '$1');
  try {
    return JSON.parse(t) as Json;
  } catch {
    return t === '' ? undefined : t; // a bare word compares as a string, as gjson allows
  }
}

/** gjson's `%` pattern: `*` any run, `?` one character. */
export function wildcardMatch(pattern: string, value: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's').test(value);
}

function compare(actual: Json | undefined, op: (typeof OPERATORS)[number], expected: Json | undefined): boolean {
  if (actual === undefined) return op === '!=' || op === '!%';
  if (op === '%' || op === '!%') {
    const hit = typeof actual === 'string' && typeof expected === 'string' && wildcardMatch(expected, actual);
    return op === '%' ? hit : !hit;
  }
  if (op === '==' || op === '=') return JSON.stringify(actual) === JSON.stringify(expected);
  if (op === '!=') return JSON.stringify(actual) !== JSON.stringify(expected);
  const comparable = (typeof actual === 'number' && typeof expected === 'number') || (typeof actual === 'string' && typeof expected === 'string');
  if (!comparable) return false;
  const a = actual as number | string;
  const e = expected as number | string;
  return op === '<' ? a < e : op === '<=' ? a <= e : op === '>' ? a > e : a >= e;
}

function termMatches(item: Json, term: string): boolean {
  if (term === '') return false;
  const found = findOperator(term);
  if (!found) {
    const value = getPath(item, term);
    return value !== undefined && value !== null && value !== false;
  }
  const [at, op] = found;
  const key = term.slice(0, at).trim();
  const actual = key === '' ? item : getPath(item, key);
  return compare(actual, op, parseLiteral(term.slice(at + op.length)));
}
