/**
 * The parts of the OpenAI Chat Completions wire format that translators read or write. Only what
 * a translation needs is typed; upstreams may send more, and it is ignored.
 */

export type ChatContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: string } }
  | { type: 'file'; file: { file_data?: string; file_id?: string; filename?: string } }
  | { type: 'input_audio'; input_audio: { data: string; format: string } };

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | ChatContentPart[] }
  | { role: 'assistant'; content: string | null; tool_calls?: ChatToolCall[]; reasoning_content?: string }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters: unknown };
}

export type ChatToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

export interface ChatRequest {
  /** First key on purpose: the per-target rename finds it without scanning the body. */
  model: string;
  messages: ChatMessage[];
  max_tokens?: number;
  /** OpenAI's reasoning models take only this one (hub.ts switches to it when told so). */
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string[];
  stream?: boolean;
  stream_options?: { include_usage: boolean };
  tools?: ChatTool[];
  tool_choice?: ChatToolChoice;
  parallel_tool_calls?: boolean;
  /** low, medium, high; OpenAI also takes none, minimal and xhigh. */
  reasoning_effort?: string;
  response_format?: { type: 'json_schema'; json_schema: { name: string; schema: unknown; description?: string; strict?: boolean } } | { type: 'json_object' };
  user?: string;
  n?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  seed?: number;
}

export interface ChatUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
}

/** Reasoning text: DeepSeek and vLLM say `reasoning_content`, OpenRouter and others `reasoning`. */
interface ReasoningFields {
  reasoning_content?: string | null;
  reasoning?: string | null;
}

export interface ChatChoice {
  index?: number;
  message?: ReasoningFields & {
    content?: string | null;
    tool_calls?: Array<{ id?: string; function?: { name?: string; arguments?: string } }> | null;
  };
  finish_reason?: string | null;
  /** vLLM / SGLang: the stop string that ended the answer (a number when it was a token id). */
  stop_reason?: string | number | null;
  matched_stop?: string | number | null;
}

export interface ChatCompletion {
  id?: string;
  choices?: ChatChoice[];
  usage?: ChatUsage | null;
  error?: { message?: string; code?: unknown; type?: string };
}

export interface ChatChunkToolCall {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}

export interface ChatChunk {
  id?: string;
  choices?: Array<{
    index?: number;
    delta?: ReasoningFields & { content?: string | null; tool_calls?: ChatChunkToolCall[] | null };
    finish_reason?: string | null;
    stop_reason?: string | number | null;
    matched_stop?: string | number | null;
  }>;
  usage?: ChatUsage | null;
  error?: { message?: string; code?: unknown; type?: string };
}
