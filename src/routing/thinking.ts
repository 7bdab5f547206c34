/**
 * Thinking settings the way CLI Proxy API reads them: a model-name suffix `alias(high)`,
 * `alias(8192)`, `alias(none)`, `alias(auto)` and the model's `thinking.levels`, mapped to the
 * OpenAI chat upstream's `reasoning_effort`. Budgets become levels at CLI Proxy API's thresholds
 * (≤512 minimal, ≤1024 low, ≤8192 medium, ≤24576 high, above xhigh); a level the model does not
 * list is clamped to the nearest one it does (ties go to the lower level).
 */

/** Levels of an openai-compatibility model whose `thinking` is not configured (CLI Proxy API's default). */
export const DEFAULT_LEVELS: readonly string[] = ['low', 'medium', 'high'];

const ORDER = ['minimal', 'low', 'medium', 'high', 'xhigh', 'max'];

export type ThinkingRequest =
  | { readonly mode: 'level'; readonly level: string }
  | { readonly mode: 'budget'; readonly budget: number }
  | { readonly mode: 'none' }
  | { readonly mode: 'auto' };

/** `name(value)` → its parts; undefined when the name has no suffix. */
export function splitSuffix(model: string): { base: string; raw: string } | undefined {
  if (!model.endsWith(')')) return undefined;
  const open = model.lastIndexOf('(');
  if (open <= 0) return undefined;
  return { base: model.slice(0, open), raw: model.slice(open + 1, -1) };
}

/** A suffix's value as a thinking request; undefined when it means nothing (e.g. `(ultra)`). */
export function parseThinkingValue(raw: string): ThinkingRequest | undefined {
  const value = raw.trim().toLowerCase();
  if (value === 'none') return { mode: 'none' };
  if (value === 'auto' || value === '-1') return { mode: 'auto' };
  if (/^\d+$/.test(value)) {
    const budget = Number(value);
    return Number.isSafeInteger(budget) ? (budget === 0 ? { mode: 'none' } : { mode: 'budget', budget }) : undefined;
  }
  return ORDER.includes(value) ? { mode: 'level', level: value } : undefined;
}

/** CLI Proxy API's ConvertBudgetToLevel. */
export function budgetToLevel(budget: number): string {
  if (budget <= 512) return 'minimal';
  if (budget <= 1024) return 'low';
  if (budget <= 8192) return 'medium';
  if (budget <= 24576) return 'high';
  return 'xhigh';
}

/** The supported level nearest to `level` in the standard order (ties: the lower one). */
export function clampLevel(level: string, levels: readonly string[]): string {
  if (levels.length === 0 || levels.includes(level)) return level;
  const pos = ORDER.indexOf(level);
  if (pos < 0) return level;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of levels) {
    const at = ORDER.indexOf(candidate);
    if (at < 0) continue;
    const distance = Math.abs(at - pos);
    if (distance < bestDistance || (distance === bestDistance && at < ORDER.indexOf(best!))) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best ?? level;
}

/**
 * The reasoning_effort to send for a request on a model with `levels`; undefined when the
 * request asks for nothing the model can express.
 */
export function effortFor(request: ThinkingRequest, levels: readonly string[]): string | undefined {
  if (levels.length === 0) return undefined;
  switch (request.mode) {
    case 'none':
      // A model that cannot switch reasoning off gets its lowest level, as CLI Proxy API does.
      return levels.includes('none') ? 'none' : levels[0];
    case 'auto':
      return levels.includes('auto') ? 'auto' : clampLevel('medium', levels);
    case 'budget':
      return clampLevel(budgetToLevel(request.budget), levels);
    case 'level':
      return clampLevel(request.level, levels);
  }
}
