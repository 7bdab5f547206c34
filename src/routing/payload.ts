/**
 * CLI Proxy API's `payload` rules, applied to the upstream body of each attempt. A rule applies
 * when one of its `models` entries matches: `name` (with `*`) against the upstream model, the
 * requested alias or the alias with its thinking suffix; `protocol` (the upstream's wire format);
 * `from-protocol` (the client's API); `headers` (client headers, `*` in values); and the body
 * conditions `match`, `not-match`, `exist`, `not-exist`. Order as in CLI Proxy API: `default`
 * and `default-raw` (only where the client's body lacks the path; first rule wins), `override`
 * and `override-raw` (last rule wins), `filter` last.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { PayloadConfig, PayloadModelConfig } from '../config/schema.js';
import { deleteAt, getAt, resolvePaths, setAt, type Json } from '../config/json-path.js';
import { splitSuffix } from './thinking.js';

/** What a rule can be matched on without looking into the body. */
export interface PayloadFacts {
  readonly upstreamModel: string;
  /** The model as the client named it (thinking suffix included). */
  readonly requestedModel?: string;
  /** The upstream's wire format: openai, claude, gemini, codex. */
  readonly protocol: string;
  /** The client's API: openai, responses, claude, gemini. */
  readonly fromProtocol?: string;
  readonly headers?: IncomingHttpHeaders;
}

/** A `models` entry with its wildcards compiled once per config snapshot. */
interface CompiledEntry {
  readonly entry: PayloadModelConfig;
  readonly name: Matcher;
  readonly headers: readonly (readonly [string, Matcher])[];
}

interface CompiledRule {
  readonly models: readonly CompiledEntry[];
  readonly params: readonly (readonly [string, Json])[];
}

interface CompiledFilter {
  readonly models: readonly CompiledEntry[];
  readonly paths: readonly string[];
}

type Matcher = (value: string) => boolean;

/** CLI Proxy API's case-sensitive `*` wildcard (models, header values), compiled. */
function wildcard(pattern: string): Matcher {
  const p = pattern.trim();
  if (p === '') return () => false;
  if (p === '*') return () => true;
  if (!p.includes('*')) return (v) => p === v.trim();
  const re = new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
  return (v) => re.test(v.trim());
}

function compileEntries(models: readonly PayloadModelConfig[]): CompiledEntry[] {
  return models.map((entry) => ({
    entry,
    name: wildcard(entry.name),
    headers: Object.entries(entry.headers ?? {})
      .filter(([name]) => name.trim() !== '')
      .map(([name, pattern]) => [name.trim().toLowerCase(), wildcard(pattern)] as const),
  }));
}

const normalizeFrom = (p: string | undefined) => (p === 'openai-response' || p === 'openai-responses' || p === 'response' ? 'responses' : p);

function candidatesOf(facts: PayloadFacts): string[] {
  const out = [facts.upstreamModel];
  const requested = facts.requestedModel?.trim();
  if (requested) {
    const suffix = splitSuffix(requested);
    out.push(suffix ? suffix.base : requested);
    if (suffix) out.push(requested);
  }
  return out;
}

function headersMatch(rules: CompiledEntry['headers'], headers: IncomingHttpHeaders | undefined): boolean {
  for (const [name, matches] of rules) {
    const value = headers?.[name];
    const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
    if (!values.some(matches)) return false;
  }
  return true;
}

/** The entry's conditions that need no body. */
function entryMatchesFacts(compiled: CompiledEntry, facts: PayloadFacts, candidates: readonly string[]): boolean {
  const { entry } = compiled;
  if (entry.protocol && facts.protocol && entry.protocol !== facts.protocol) return false;
  if (entry['from-protocol'] && normalizeFrom(entry['from-protocol']) !== normalizeFrom(facts.fromProtocol)) return false;
  if (!candidates.some(compiled.name)) return false;
  return headersMatch(compiled.headers, facts.headers);
}

const sameJson = (a: Json | undefined, b: unknown) => a !== undefined && JSON.stringify(a) === JSON.stringify(b);

function valueMatches(doc: Json, path: string, expected: unknown): boolean {
  return resolvePaths(doc, path).some((s) => sameJson(getAt(doc, s), expected));
}

function exists(doc: Json, path: string): boolean {
  return resolvePaths(doc, path).some((s) => {
    const v = getAt(doc, s);
    return v !== undefined && v !== null;
  });
}

function entryMatchesBody({ entry }: CompiledEntry, doc: Json): boolean {
  for (const condition of entry.match ?? []) for (const [path, value] of Object.entries(condition)) if (path.trim() && !valueMatches(doc, path, value)) return false;
  for (const condition of entry['not-match'] ?? []) for (const [path, value] of Object.entries(condition)) if (path.trim() && valueMatches(doc, path, value)) return false;
  for (const path of entry.exist ?? []) if (path.trim() && !exists(doc, path)) return false;
  for (const path of entry['not-exist'] ?? []) if (path.trim() && exists(doc, path)) return false;
  return true;
}

const keyOf = (segments: readonly (string | number)[]) => segments.join('\u0000');

export class PayloadRules {
  private constructor(
    private readonly defaults: readonly CompiledRule[],
    private readonly overrides: readonly CompiledRule[],
    private readonly filters: readonly CompiledFilter[],
  ) {}

  /** Compiles a config's rules (raw values parsed once); undefined when there are none. */
  static compile(config: PayloadConfig | undefined): PayloadRules | undefined {
    if (!config) return undefined;
    const plain = (rules: PayloadConfig['default']) => (rules ?? []).map((r) => ({ models: compileEntries(r.models), params: Object.entries(r.params) as [string, Json][] }));
    const raw = (rules: PayloadConfig['default']) =>
      (rules ?? []).map((r) => ({
        models: compileEntries(r.models),
        params: Object.entries(r.params).flatMap(([path, value]): [string, Json][] => {
          if (value === null || value === undefined) return [];
          return [[path, (typeof value === 'string' ? JSON.parse(value) : value) as Json]];
        }),
      }));
    const defaults = [...plain(config.default), ...raw(config['default-raw'])];
    const overrides = [...plain(config.override), ...raw(config['override-raw'])];
    const filters = (config.filter ?? []).map((r) => ({ models: compileEntries(r.models), paths: r.params }));
    if (defaults.length + overrides.length + filters.length === 0) return undefined;
    return new PayloadRules(defaults, overrides, filters);
  }

  /** True when some rule could apply to these facts (the body is parsed only then). */
  mayApply(facts: PayloadFacts): boolean {
    const candidates = candidatesOf(facts);
    const any = (rules: readonly { models: readonly CompiledEntry[] }[]) => rules.some((r) => r.models.some((e) => entryMatchesFacts(e, facts, candidates)));
    return any(this.defaults) || any(this.overrides) || any(this.filters);
  }

  private matches(models: readonly CompiledEntry[], facts: PayloadFacts, candidates: readonly string[], doc: Json): boolean {
    return models.some((e) => entryMatchesFacts(e, facts, candidates) && entryMatchesBody(e, doc));
  }

  /** `default` / `default-raw`: set paths the client's body lacks (the first matching rule wins). */
  applyDefaults(doc: Json, facts: PayloadFacts): boolean {
    const candidates = candidatesOf(facts);
    const applied = new Set<string>();
    let changed = false;
    for (const rule of this.defaults) {
      if (!this.matches(rule.models, facts, candidates, doc)) continue;
      for (const [path, value] of rule.params) {
        for (const segments of resolvePaths(doc, path)) {
          const key = keyOf(segments);
          if (applied.has(key) || getAt(doc, segments) !== undefined) continue;
          if (setAt(doc, segments, structuredClone(value))) {
            applied.add(key);
            changed = true;
          }
        }
      }
    }
    return changed;
  }

  /** `override` / `override-raw`, then `filter`. */
  applyOverrides(doc: Json, facts: PayloadFacts): boolean {
    const candidates = candidatesOf(facts);
    let changed = false;
    for (const rule of this.overrides) {
      if (!this.matches(rule.models, facts, candidates, doc)) continue;
      for (const [path, value] of rule.params) {
        for (const segments of resolvePaths(doc, path)) changed = setAt(doc, segments, structuredClone(value)) || changed;
      }
    }
    for (const rule of this.filters) {
      if (!this.matches(rule.models, facts, candidates, doc)) continue;
      for (const path of rule.paths) {
        // Last first, so that removing one array element does not shift the next match.
        const found = resolvePaths(doc, path);
        for (let i = found.length - 1; i >= 0; i--) changed = deleteAt(doc, found[i]!) || changed;
      }
    }
    return changed;
  }
}
