/**
 * OpenAI Responses ⇄ OpenAI Chat Completions, the adapter pair in translate/responses/: request
 * going up (with the tool-name map that names calls back), answer coming back, and the stream
 * transformer. Pure functions; the handler in server/responses.ts wires them to the attempt loop,
 * the SSE relay and the stored-responses cache.
 */
export { toChat, type TranslatedRequest } from './request.js';
export { responseId, responseShell, toResponse, type ResponseOptions } from './response.js';
export { KEEP_ALIVE, responseOpening, responseToEvents, streamToResponses, type ResponsesStream, type StreamOptions } from './stream.js';
export { chatTools, qualifiedName } from './tools.js';
export type { OutputItem, ResponseObject, ResponseUsage, ToolIdentity, ToolMap } from './types.js';
