/**
 * Gemini API ⇄ OpenAI chat completions (the hub): request going up, answer coming back, and the
 * stream transformer. Pure functions; server/gemini.ts wires them to the attempt loop and relay.
 */
export { toChat, wantsThoughts } from './request.js';
export { finishReason, toGemini, usageMetadata } from './response.js';
export { streamToGemini, type GeminiStream } from './stream.js';
export { estimatePromptTokens } from './tokens.js';
export { fromEmbeddings, toEmbeddings, type EmbeddingsRequest } from './embed.js';
export { toJsonSchema } from './schema.js';
export type { AnswerOptions, GeminiModel, GenerateContentResponse } from './types.js';
