/**
 * The parts of the OpenAI Responses API wire format that cliproxy writes (response objects, output
 * items, usage). Requests are read from untrusted JSON and validated where they are translated.
 * Reference: https://platform.openai.com/docs/api-reference/responses (and Codex CLI's parser,
 * codex-rs/codex-api/src/sse/responses.rs, which reads `output_item.done` items and `completed`).
 */

export type Json = Record<string, unknown>;

export interface OutputText {
  type: 'output_text';
  text: string;
  annotations: unknown[];
  logprobs: unknown[];
}

export interface MessageItem {
  id: string;
  type: 'message';
  status: ItemStatus;
  role: 'assistant';
  content: OutputText[];
}

export interface FunctionCallItem {
  id: string;
  type: 'function_call';
  status: ItemStatus;
  call_id: string;
  name: string;
  arguments: string;
  /** Set for a tool declared inside a `namespace` tool (Codex groups tools that way). */
  namespace?: string;
}

export interface CustomToolCallItem {
  id: string;
  type: 'custom_tool_call';
  status: ItemStatus;
  call_id: string;
  name: string;
  input: string;
  namespace?: string;
}

export interface ReasoningItem {
  id: string;
  type: 'reasoning';
  summary: Array<{ type: 'summary_text'; text: string }>;
}

/** A compacted conversation (translate/responses/compaction.ts): the client sends it back as input. */
export interface CompactionItem {
  id: string;
  type: 'compaction';
  encrypted_content: string;
}

export type OutputItem = MessageItem | FunctionCallItem | CustomToolCallItem | ReasoningItem | CompactionItem;

export type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** The `response` object (`object: "response"`), as returned, streamed and stored. */
export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  background: false;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null;
  instructions: unknown;
  max_output_tokens: number | null;
  model: string;
  output: OutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  reasoning: { effort: string | null; summary: string | null };
  store: boolean;
  temperature: number | null;
  text: unknown;
  tool_choice: unknown;
  tools: unknown[];
  top_p: number | null;
  truncation: string;
  usage: ResponseUsage | null;
  user: string | null;
  metadata: unknown;
}

/** What a Responses tool became in the chat request, so that calls can be named back. */
export interface ToolIdentity {
  /** The tool's own name (inside its namespace, if any). */
  readonly name: string;
  readonly namespace?: string;
  /** A freeform (`custom`) tool: its calls are `custom_tool_call` items with a string `input`. */
  readonly custom: boolean;
}

/** Chat function name → the Responses tool it stands for. */
export type ToolMap = ReadonlyMap<string, ToolIdentity>;
