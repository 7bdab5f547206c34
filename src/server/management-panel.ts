/**
 * /v0/management routes the Management Center (CLI Proxy API's web panel) calls besides the config
 * and provider routes, in CLI Proxy API's shapes: per-key health (`api-key-usage`), the log viewer
 * (`logs`, `request-error-logs`, `request-log-by-id`), `latest-version`, and empty answers for what
 * cliproxy does not have (Vertex, xAI and Interactions keys, auth files, OAuth, plugins), so the
 * panel shows "none" rather than an error.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { maskValue } from '../config/mask.js';
import { logTail } from '../observe/log-tail.js';
import { credentialFigures, credentialKey, noFigures, type CredentialFigures } from '../observe/usage-credentials.js';
import { releaseApiUrl } from '../panel/release.js';
import { ManagementError, type ManagementRequest, type Reply, type Routes } from './management-common.js';
import { apiCall } from './management-api-call.js';

const PANEL_GROUPS = { anthropic: 'claude', gemini: 'gemini', responses: 'codex' } as const;

/**
 * With a shared usage store (PostgreSQL) the per-key figures are the whole cluster's, read from it
 * (requests by the key that answered them); otherwise, or if it cannot answer now, this instance's
 * own per-attempt counts.
 */
async function clusterFigures(req: ManagementRequest, now: number): Promise<Map<string, CredentialFigures> | undefined> {
  if (!req.ctx.snap.config['usage-statistics-enabled']) return undefined;
  const store = await req.ctx.rt.observe.usage();
  if (!store?.shared) return undefined;
  return credentialFigures(store, now).catch(() => undefined);
}

async function apiKeyUsage(req: ManagementRequest): Promise<Reply> {
  const now = Date.now();
  const cluster = await clusterFigures(req, now);
  const snap = req.editor.store.current();
  const baseUrls = new Map(snap.config['openai-compatibility'].map((p) => [p.name, p['base-url']]));
  const out: Record<string, Record<string, unknown>> = {};
  const seen = new Set<string>();
  for (const pool of snap.registry.list) {
    for (const target of pool.members) {
      const provider = target.provider;
      for (const credential of provider.credentials) {
        if (!credential.apiKey || seen.has(credential.stateKey)) continue;
        seen.add(credential.stateKey);
        // Keyed `base-url|api-key` as CLI Proxy API, with the key masked as GET /openai-compatibility shows it.
        const key = `${baseUrls.get(provider.name) ?? provider.origin + provider.basePath}|${req.reveal ? credential.apiKey : maskValue('key', credential.apiKey)}`;
        // Native keys group under CLI Proxy API's provider names (claude, gemini, codex).
        const group = provider.format === 'openai' ? provider.name.toLowerCase() : PANEL_GROUPS[provider.format];
        (out[group] ??= {})[key] = cluster
          ? (cluster.get(credentialKey(provider.name, credential.index)) ?? noFigures(now))
          : req.ctx.rt.recent.describe(credential, now);
      }
    }
  }
  return { json: out };
}

/** The request-log folder (logs-dir beside config.yaml); it exists once request-log was on. */
function logsDir(req: ManagementRequest): string {
  return req.ctx.rt.observe.requestLogs().dir;
}

async function getLogs(req: ManagementRequest): Promise<Reply> {
  const after = Number(req.query.get('after') ?? 0);
  const limitText = req.query.get('limit');
  const limit = limitText === null ? undefined : Number(limitText);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new ManagementError(400, `invalid limit: ${limitText}`);
  const { lines, latestSeconds } = logTail.read(Number.isFinite(after) && after > 0 ? after : 0, limit || undefined);
  return { json: { lines, 'line-count': lines.length, 'latest-timestamp': latestSeconds } };
}

async function deleteLogs(): Promise<Reply> {
  const removed = logTail.clear();
  return { json: { success: true, message: 'Logs cleared successfully', removed } };
}

interface LogFile {
  name: string;
  size: number;
  modified: number;
}

/** Request log files of answers that were errors (their first status line is >= 400). */
async function errorLogFiles(dir: string): Promise<LogFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.log'));
  } catch {
    return [];
  }
  const files: LogFile[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const [text, info] = await Promise.all([readFile(path, 'utf8').catch(() => ''), stat(path).catch(() => undefined)]);
    if (!info || !/^=== response [45]\d\d\b/m.test(text)) continue;
    files.push({ name, size: info.size, modified: Math.floor(info.mtimeMs / 1000) });
  }
  return files.sort((a, b) => b.modified - a.modified);
}

async function getErrorLogs(req: ManagementRequest): Promise<Reply> {
  return { json: { files: await errorLogFiles(logsDir(req)) } };
}

const SAFE_NAME = /^[\w.-]+\.log$/;

async function downloadLog(dir: string, name: string): Promise<Reply> {
  if (!SAFE_NAME.test(name) || name.includes('..')) throw new ManagementError(400, 'invalid log file name');
  const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
  if (text === undefined) throw new ManagementError(404, 'log file not found');
  return { text, contentType: 'text/plain; charset=utf-8' };
}

async function requestLogById(req: ManagementRequest, id: string): Promise<Reply> {
  if (!/^[\w-]{1,128}$/.test(id)) throw new ManagementError(400, 'invalid request ID');
  const text = await req.ctx.rt.observe.requestLogs().read(id);
  if (text === undefined) throw new ManagementError(404, 'log file not found for the given request ID');
  return { text, contentType: 'text/plain; charset=utf-8' };
}

async function latestVersion(req: ManagementRequest): Promise<Reply> {
  const config = req.editor.store.current().config;
  const repository = config['remote-management']['release-repository'];
  if (!repository) {
    throw new ManagementError(502, 'no release feed configured: set remote-management.release-repository to check for new cliproxy versions');
  }
  try {
    const res = await request(releaseApiUrl(repository), {
      dispatcher: req.ctx.rt.dispatchers.get(config['proxy-url'], 10_000),
      headers: { accept: 'application/vnd.github+json', 'user-agent': 'cliproxy' },
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`the release feed answered ${res.statusCode}`);
    }
    const info = (await res.body.json()) as { tag_name?: unknown; name?: unknown };
    const version = typeof info.tag_name === 'string' && info.tag_name ? info.tag_name : typeof info.name === 'string' ? info.name : '';
    if (!version) throw new Error('the release has no version');
    return { json: { 'latest-version': version } };
  } catch (err) {
    throw new ManagementError(502, `cannot check the latest version: ${(err as Error).message}`);
  }
}

/** A provider family cliproxy does not serve: an empty list, and a clear refusal to add one. */
function unsupportedList(key: string, what: string): Routes[string] {
  const refuse = async (): Promise<Reply> => {
    throw new ManagementError(400, `${key}: ${what} keys are not supported by cliproxy`);
  };
  return { GET: async () => ({ json: { [key]: [] } }), PUT: refuse, PATCH: refuse, DELETE: refuse };
}

const noOAuth = async (): Promise<Reply> => {
  throw new ManagementError(400, 'OAuth logins are not supported by cliproxy: configure API keys instead');
};

export const panelRoutes: Routes = {
  '/api-key-usage': { GET: apiKeyUsage },
  '/api-call': { POST: apiCall },
  '/logs': { GET: getLogs, DELETE: deleteLogs },
  '/request-error-logs': { GET: getErrorLogs },
  '/latest-version': { GET: latestVersion },
  '/vertex-api-key': unsupportedList('vertex-api-key', 'Vertex'),
  '/xai-api-key': unsupportedList('xai-api-key', 'xAI'),
  '/interactions-api-key': unsupportedList('interactions-api-key', 'Interactions'),
  '/auth-files': { GET: async () => ({ json: { files: [] } }) },
  '/oauth-excluded-models': { GET: async () => ({ json: { 'oauth-excluded-models': {} } }) },
  '/plugins': { GET: async () => ({ json: { plugins: [] } }) },
  '/plugin-store': { GET: async () => ({ json: { plugins: [] } }) },
  '/get-auth-status': { GET: async () => ({ json: { status: 'error', error: 'OAuth logins are not supported by cliproxy' } }) },
  '/oauth-callback': { POST: noOAuth },
};

/** Routes with a path parameter: `/request-error-logs/{name}`, `/request-log-by-id/{id}`, `/*-auth-url`. */
export function panelParamRoute(path: string): Routes[string] | undefined {
  let m = /^\/request-error-logs\/([^/]+)$/.exec(path);
  if (m) {
    const name = decodeURIComponent(m[1]!);
    return { GET: (req) => downloadLog(logsDir(req), name) };
  }
  m = /^\/request-log-by-id\/([^/]+)$/.exec(path);
  if (m) {
    const id = decodeURIComponent(m[1]!);
    return { GET: (req) => requestLogById(req, id) };
  }
  if (/^\/[a-z-]+-auth-url$/.test(path)) return { GET: noOAuth };
  return undefined;
}

