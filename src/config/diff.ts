/**
 * What a configuration swap changed, for the one-line reload log: providers and client-visible
 * models added or removed, and the names (never the values: they may be secrets) of other settings.
 */
import { NATIVE_KEYS } from './schema.js';
import type { Snapshot } from './store.js';

export interface ConfigChange {
  readonly providers: { readonly added: string[]; readonly removed: string[]; readonly changed: string[] };
  readonly models: { readonly added: string[]; readonly removed: string[] };
  /** Top-level keys other than the provider lists whose value changed. */
  readonly settings: string[];
}

const MAX_LISTED = 8;

function list(sign: string, names: readonly string[]): string {
  const shown = names.slice(0, MAX_LISTED).map((n) => `${sign}${n}`);
  if (names.length > MAX_LISTED) shown.push(`(${names.length - MAX_LISTED} more)`);
  return shown.join(' ');
}

/** Provider name → its config text: openai-compatibility by name, native keys as `claude-api-key[0]`. */
function providerTexts(snap: Snapshot): Map<string, string> {
  const out = new Map(snap.config['openai-compatibility'].map((p) => [p.name, JSON.stringify(p)]));
  for (const key of NATIVE_KEYS) snap.config[key].forEach((entry, i) => out.set(`${key}[${i}]`, JSON.stringify(entry)));
  return out;
}

export function diffSnapshots(previous: Snapshot, next: Snapshot): ConfigChange {
  const before = providerTexts(previous);
  const after = providerTexts(next);
  const oldModels = new Set(previous.registry.list.map((p) => p.id));
  const newModels = new Set(next.registry.list.map((p) => p.id));
  const settings: string[] = [];
  const keys = new Set([...Object.keys(previous.config), ...Object.keys(next.config)]);
  for (const key of keys) {
    if (key === 'openai-compatibility' || (NATIVE_KEYS as readonly string[]).includes(key)) continue;
    const a = (previous.config as Record<string, unknown>)[key];
    const b = (next.config as Record<string, unknown>)[key];
    if (JSON.stringify(a) !== JSON.stringify(b)) settings.push(key);
  }
  return {
    providers: {
      added: [...after.keys()].filter((n) => !before.has(n)),
      removed: [...before.keys()].filter((n) => !after.has(n)),
      changed: [...after.keys()].filter((n) => before.has(n) && before.get(n) !== after.get(n)),
    },
    models: {
      added: [...newModels].filter((m) => !oldModels.has(m)),
      removed: [...oldModels].filter((m) => !newModels.has(m)),
    },
    settings,
  };
}

/** `providers +groq -old ~openrouter; models +groq-llama -old-model; settings debug` */
export function describeChange(change: ConfigChange): string {
  const parts: string[] = [];
  const { providers, models, settings } = change;
  const p = [list('+', providers.added), list('-', providers.removed), list('~', providers.changed)].filter(Boolean);
  if (p.length) parts.push(`providers ${p.join(' ')}`);
  const m = [list('+', models.added), list('-', models.removed)].filter(Boolean);
  if (m.length) parts.push(`models ${m.join(' ')}`);
  if (settings.length) parts.push(`settings ${settings.join(', ')}`);
  return parts.length ? parts.join('; ') : 'no effective change';
}
