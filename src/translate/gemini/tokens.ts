/**
 * The token estimate behind :countTokens (and usageMetadata's prompt figure when an upstream
 * reports no usage): the character walk of translate/chat/token-estimate.ts over
 * systemInstruction + contents + tools, except that inline media (`inlineData`) counts a flat 258
 * tokens instead of its base64 data: what Gemini bills for an image up to 384×384 pixels.
 */
import { estimateTokens, type IsMedia } from '../chat/token-estimate.js';

export const MEDIA_TOKENS = 258;

const isInlineData: IsMedia = (_obj, key) => key === 'inlineData' || key === 'inline_data';

/** Estimated prompt tokens of a generateContent request (see the module comment). */
export function estimatePromptTokens(req: Record<string, unknown>): number {
  return estimateTokens([req.systemInstruction ?? req.system_instruction, req.contents, req.tools], isInlineData, MEDIA_TOKENS);
}
