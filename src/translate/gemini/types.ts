/**
 * The parts of the Gemini API wire format (generativelanguage v1beta) that cliproxy writes:
 * answers, stream objects, model entries. Requests are untrusted JSON, read and validated where
 * they are translated (request.ts).
 */

export interface FunctionCall {
  /** Gemini has no call ids of its own; cliproxy passes the upstream's so replies can be matched. */
  id?: string;
  name: string;
  args: Record<string, unknown>;
}

export type Part = { text: string; thought?: true } | { functionCall: FunctionCall };

export interface Content {
  role: 'model';
  parts: Part[];
}

/** google.ai.generativelanguage FinishReason values cliproxy produces. */
export type FinishReason = 'STOP' | 'MAX_TOKENS' | 'SAFETY' | 'MALFORMED_FUNCTION_CALL' | 'OTHER';

export interface Candidate {
  content: Content;
  finishReason?: FinishReason;
  finishMessage?: string;
  index: number;
}

export interface UsageMetadata {
  promptTokenCount: number;
  candidatesTokenCount: number;
  totalTokenCount: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
}

export interface GenerateContentResponse {
  candidates: Candidate[];
  usageMetadata?: UsageMetadata;
  modelVersion: string;
  responseId: string;
}

/** One entry of GET /v1beta/models. */
export interface GeminiModel {
  name: string;
  baseModelId: string;
  version: string;
  displayName: string;
  description: string;
  supportedGenerationMethods: string[];
}

/** What the answer translators need to know about the request they answer. */
export interface AnswerOptions {
  /** The model id the client asked for: `modelVersion` names it, not the upstream's id. */
  readonly model: string;
  /** responseId when the upstream gave none. */
  readonly id: string;
  /** Reasoning goes back as `thought: true` parts only when the request asked for thoughts. */
  readonly includeThoughts: boolean;
  /** Estimated prompt tokens, asked for only when the upstream reports no usage (it walks the request). */
  readonly promptTokens: () => number;
}
