/**
 * What the management handlers share: their error (rendered as CLI Proxy API's `{"error": "..."}`,
 * not the OpenAI shape), their request and reply types, and the one way they change the config.
 */
import { ConfigError } from '../config/load.js';
import { MaskedValueError } from '../config/mask.js';
import { ConfigConflict, type ConfigEditor, type Draft } from '../config/persist.js';
import { readRequestBody } from './body.js';
import type { RequestContext } from './context.js';

export class ManagementError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ManagementError';
  }
}

export const invalidBody = (detail?: string) => new ManagementError(400, detail ? `invalid body: ${detail}` : 'invalid body');
export const itemNotFound = () => new ManagementError(404, 'item not found');

export interface ManagementRequest {
  readonly ctx: RequestContext;
  readonly editor: ConfigEditor;
  readonly query: URLSearchParams;
  /** `?reveal=true`: secrets in clear in GET answers. */
  readonly reveal: boolean;
  /** The JSON body, or undefined when there is none. */
  json(): Promise<unknown>;
  text(): Promise<string>;
}

export type Reply = { readonly status?: number; readonly json: unknown } | { readonly text: string; readonly contentType: string };
export type Handler = (req: ManagementRequest) => Promise<Reply>;
/** Path below /v0/management → method → handler. */
export type Routes = Record<string, Partial<Record<string, Handler>>>;

export const OK: Reply = { json: { status: 'ok' } };

export const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A non-negative integer from a query parameter or body field, else undefined. */
export function indexOf(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : undefined;
}

/**
 * Runs an edit through the editor (serialised, validated, saved, swapped) and answers `ok`.
 * An invalid result is `invalidStatus` (400 for field edits, 422 for a whole config.yaml).
 */
export async function applyEdit(req: ManagementRequest, change: (draft: Draft) => void, invalidStatus = 400): Promise<Reply> {
  try {
    await req.editor.edit(change);
  } catch (err) {
    throw asManagementError(err, invalidStatus);
  }
  return OK;
}

/** Maps config-layer errors to management answers; anything else is left for the 500 path. */
export function asManagementError(err: unknown, invalidStatus = 400): unknown {
  if (err instanceof ManagementError) return err;
  if (err instanceof ConfigError) return new ManagementError(err.kind === 'yaml' ? 400 : invalidStatus, err.message);
  if (err instanceof MaskedValueError) return new ManagementError(invalidStatus, err.message);
  if (err instanceof ConfigConflict) return new ManagementError(409, err.message);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    return new ManagementError(500, `cannot save config.yaml (${code}); nothing was changed`);
  }
  return err;
}

/** A management request body as text; 413 past `limit` bytes. */
export async function readBodyText(ctx: RequestContext, limit: number): Promise<string> {
  const body = await readRequestBody(ctx.req, limit);
  if (body === undefined) throw new ManagementError(413, 'request body too large');
  return body.toString('utf8');
}
