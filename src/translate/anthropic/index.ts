/**
 * Anthropic Messages ⇄ OpenAI Chat Completions, the adapter pair in translate/anthropic/:
 * request going up, answer coming back, and the stream transformer. Pure functions; the handler in
 * server/anthropic.ts wires them to the attempt loop and the SSE relay.
 */
export { reasoningEffort, toUpstream, unknownFields } from './request.js';
export { messageId, parseArguments, stopReason, toClient, usageOf, type ClientOptions } from './response.js';
export { messageToEvents, streamToClient, type AnthropicStream, type StreamOptions } from './stream.js';
