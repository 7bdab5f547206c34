/**
 * The input-token estimate behind POST /v1/messages/count_tokens (and message_start's usage before
 * the upstream reports the real figure): the character walk of translate/chat/token-estimate.ts over
 * system + messages + tools, except that base64 images and documents count a flat 1,600 tokens each
 * instead of their data: Anthropic bills an image about width×height/750 tokens, ~1,600 at the
 * 1.15 megapixels it scales to.
 */
import { estimateTokens, type IsMedia } from '../chat/token-estimate.js';

export const MEDIA_TOKENS = 1600;

/** `{"type": "base64", "data": ...}`: the source of an image or document. */
const isBase64Data: IsMedia = (obj, key) => key === 'data' && obj.type === 'base64' && typeof obj.data === 'string';

/** Estimated input tokens of an Anthropic Messages request (see the module comment). */
export function estimateInputTokens(req: Record<string, unknown>): number {
  return estimateTokens([req.system, req.messages, req.tools], isBase64Data, MEDIA_TOKENS);
}
