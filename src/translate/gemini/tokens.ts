/**
 * The token estimate behind :countTokens (and usageMetadata's prompt figure when an upstream
 * reports no usage). No upstream tokenizer is available in OpenAI format, so:
 *
 *   tokens ≈ ceil(characters of the JSON of systemInstruction + contents + tools / 4)
 *
 * except that inline media (`inlineData`) counts a flat 258 tokens instead of its base64 data:
 * what Gemini bills for an image up to 384×384 pixels. The walk counts characters without
 * building the JSON, so large requests cost no copy.
 */

const CHARS_PER_TOKEN = 4;
export const MEDIA_TOKENS = 258;

function measure(value: unknown, counts: { chars: number; media: number }): void {
  if (typeof value === 'string') {
    counts.chars += value.length + 2;
  } else if (Array.isArray(value)) {
    counts.chars += 2 + value.length;
    for (const item of value) measure(item, counts);
  } else if (typeof value === 'object' && value !== null) {
    const obj = value as Record<string, unknown>;
    counts.chars += 2;
    for (const key in obj) {
      if (key === 'inlineData' || key === 'inline_data') {
        counts.media++;
        continue;
      }
      counts.chars += key.length + 4;
      measure(obj[key], counts);
    }
  } else if (value !== undefined) {
    counts.chars += String(value).length;
  }
}

/** Estimated prompt tokens of a generateContent request (see the module comment). */
export function estimatePromptTokens(req: Record<string, unknown>): number {
  const counts = { chars: 0, media: 0 };
  measure(req.systemInstruction ?? req.system_instruction, counts);
  measure(req.contents, counts);
  measure(req.tools, counts);
  return Math.ceil(counts.chars / CHARS_PER_TOKEN) + counts.media * MEDIA_TOKENS;
}
