/**
 * The input-token estimate behind POST /v1/messages/count_tokens (and message_start's usage before
 * the upstream reports the real figure). No upstream tokenizer is available in OpenAI format, so:
 *
 *   tokens ≈ ceil(characters of the JSON of system + messages + tools / 4)
 *
 * (four characters per token is the usual rule of thumb for English text and code), except that
 * base64 images and documents count a flat 1,600 tokens each instead of their data: Anthropic
 * bills an image about width×height/750 tokens, ~1,600 at the 1.15 megapixels it scales to.
 * The walk counts characters without building the JSON, so large requests cost no copy.
 */

const CHARS_PER_TOKEN = 4;
export const MEDIA_TOKENS = 1600;

/** Approximate length of `value` serialised as JSON, with base64 payloads left out and counted. */
function measure(value: unknown, counts: { chars: number; media: number }): void {
  if (typeof value === 'string') {
    counts.chars += value.length + 2;
  } else if (Array.isArray(value)) {
    counts.chars += 2 + value.length;
    for (const item of value) measure(item, counts);
  } else if (typeof value === 'object' && value !== null) {
    const obj = value as Record<string, unknown>;
    const base64 = obj.type === 'base64' && typeof obj.data === 'string';
    if (base64) counts.media++;
    counts.chars += 2;
    for (const key in obj) {
      if (base64 && key === 'data') continue;
      counts.chars += key.length + 4;
      measure(obj[key], counts);
    }
  } else if (value !== undefined) {
    counts.chars += String(value).length;
  }
}

/** Estimated input tokens of an Anthropic Messages request (see the module comment). */
export function estimateInputTokens(req: Record<string, unknown>): number {
  const counts = { chars: 0, media: 0 };
  measure(req.system, counts);
  measure(req.messages, counts);
  measure(req.tools, counts);
  return Math.ceil(counts.chars / CHARS_PER_TOKEN) + counts.media * MEDIA_TOKENS;
}
