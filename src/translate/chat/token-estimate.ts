/**
 * The character walk behind every token estimate (count_tokens, countTokens, a prompt figure when
 * an upstream reports none): tokens ≈ ceil(characters of the JSON / 4), four characters per token
 * being the usual rule of thumb for English text and code. Inline media is left out of the
 * characters and counted instead, to be billed at a flat per-item figure by each format. The walk
 * measures without building the JSON, so large requests cost no copy.
 */
export const CHARS_PER_TOKEN = 4;

/** True when `obj[key]` is an inline media payload (base64): skipped, counted as one item. */
export type IsMedia = (obj: Record<string, unknown>, key: string) => boolean;

export interface Measure {
  chars: number;
  media: number;
}

/** Adds the approximate JSON length of `value` (media payloads left out and counted) to `counts`. */
export function measureJson(value: unknown, isMedia: IsMedia, counts: Measure): Measure {
  if (typeof value === 'string') {
    counts.chars += value.length + 2;
  } else if (Array.isArray(value)) {
    counts.chars += 2 + value.length;
    for (const item of value) measureJson(item, isMedia, counts);
  } else if (typeof value === 'object' && value !== null) {
    const obj = value as Record<string, unknown>;
    counts.chars += 2;
    for (const key in obj) {
      if (isMedia(obj, key)) {
        counts.media++;
        continue;
      }
      counts.chars += key.length + 4;
      measureJson(obj[key], isMedia, counts);
    }
  } else if (value !== undefined) {
    counts.chars += String(value).length;
  }
  return counts;
}

/** Tokens for measured parts: characters at CHARS_PER_TOKEN, media at `mediaTokens` each. */
export function estimateTokens(parts: readonly unknown[], isMedia: IsMedia, mediaTokens: number): number {
  const counts: Measure = { chars: 0, media: 0 };
  for (const part of parts) measureJson(part, isMedia, counts);
  return Math.ceil(counts.chars / CHARS_PER_TOKEN) + counts.media * mediaTokens;
}
