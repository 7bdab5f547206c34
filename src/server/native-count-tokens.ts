/**
 * POST /v1/messages/count_tokens for a pool with a claude-api-key member: Anthropic counts exactly
 * (https://docs.anthropic.com/en/api/messages-count-tokens), so the request is passed to it as is
 * (model renamed). One attempt at the first member whose key is not cooling; any failure falls
 * back to the local estimate, and nothing is cooled down for it (a gateway without the endpoint
 * must not take the key out of generation).
 */
import { renameModel } from '../upstream/rewrite.js';
import { forward, readBody } from '../upstream/forward.js';
import type { Credential, Pool, Target } from '../routing/registry.js';
import { clientSignal, type RequestContext } from './context.js';

const COUNT_PATH = '/v1/messages/count_tokens';
const FORWARDED = ['anthropic-beta', 'anthropic-version'];

/** The upstream's `{"input_tokens": N}` body, or undefined when there is none to ask or it failed. */
export async function upstreamTokenCount(ctx: RequestContext, pool: Pool, raw: string): Promise<Buffer | undefined> {
  const now = Date.now();
  let chosen: { target: Target; credential: Credential } | undefined;
  for (const target of pool.members) {
    if (target.provider.format !== 'anthropic') continue;
    const credential = target.provider.credentials.find((c) => !ctx.rt.balancer.isCooling(target, c, now));
    if (credential) {
      chosen = { target, credential };
      break;
    }
  }
  if (!chosen) return undefined;
  const headers: Record<string, string> = {};
  for (const name of FORWARDED) {
    const value = ctx.req.headers[name];
    if (typeof value === 'string' && value !== '') headers[name] = value;
  }
  const { snap } = ctx;
  try {
    const response = await forward({
      dispatcher: ctx.rt.dispatchers.get(chosen.credential.proxyUrl, snap.timeoutsMs.connect),
      target: chosen.target,
      credential: chosen.credential,
      path: COUNT_PATH,
      body: renameModel(raw, chosen.target.upstreamModel),
      headers,
      stream: false,
      signal: clientSignal(ctx.res),
      firstByteMs: snap.timeoutsMs.firstByte,
      idleMs: snap.timeoutsMs.idle,
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      return undefined;
    }
    const body = await readBody(response.body, 64 * 1024);
    const parsed = JSON.parse(body.toString('utf8')) as { input_tokens?: unknown };
    return typeof parsed.input_tokens === 'number' ? body : undefined;
  } catch {
    return undefined;
  }
}
