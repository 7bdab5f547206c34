/**
 * The Management Center (CLI Proxy API's web panel, a separate MIT project) is not part of
 * cliproxy: like CLI Proxy API, cliproxy downloads the single-file `management.html` from the
 * panel project's latest GitHub release into `static/` beside config.yaml and serves it from there.
 * Any GitHub-compatible `releases/latest` API works (a self-hosted mirror), through the global
 * proxy-url. The asset's sha256 `digest` is checked before the file is replaced (atomically).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import type { Logger } from '../observe/logger.js';

export const DEFAULT_PANEL_REPOSITORY = 'https://github.com/router-for-me/Cli-Proxy-API-Management-Center';
export const PANEL_FILE = 'management.html';
/** A copy older than this is refreshed (unless auto-update is off). */
export const REFRESH_MS = 3 * 60 * 60 * 1000;
/** At most one download attempt per this period, however many page loads ask. */
export const MIN_ATTEMPT_GAP_MS = 30_000;
const TIMEOUT_MS = 15_000;
const MAX_ASSET_BYTES = 32 * 1024 * 1024;
const MAX_REDIRECTS = 5;

/** The `releases/latest` API URL of a repository URL (or the URL itself if it is one already). */
export function releaseApiUrl(repository: string): string {
  const trimmed = repository.trim().replace(/\/+$/, '');
  const url = new URL(trimmed);
  if (/\/releases\/latest$/i.test(url.pathname)) return url.toString();
  if (url.hostname === 'github.com' || url.hostname === 'www.github.com') {
    const [owner, name] = url.pathname.split('/').filter(Boolean);
    if (!owner || !name) throw new Error(`not a repository URL: ${repository}`);
    return `https://api.github.com/repos/${owner}/${name.replace(/\.git$/, '')}/releases/latest`;
  }
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/releases/latest`;
  return url.toString();
}

/** The folder the panel lives in: `static/` beside config.yaml. */
export const staticDir = (configPath: string) => join(dirname(configPath), 'static');

interface Asset {
  readonly url: string;
  /** Lower-case hex sha256, or undefined when the release does not publish one. */
  readonly sha256: string | undefined;
}

export interface PanelSettings {
  readonly repository: string;
  readonly proxyUrl: string | undefined;
  /** Only download when no copy exists. */
  readonly autoUpdate: boolean;
}

export interface PanelAssetOptions {
  readonly file: string;
  readonly dispatcher: (proxyUrl: string | undefined) => Dispatcher;
  readonly log: Logger;
}

/** Keeps `static/management.html` present and fresh; every download is coalesced and throttled. */
export class PanelAsset {
  private inFlight: Promise<void> | undefined;
  private lastAttempt = -Infinity;

  constructor(private readonly options: PanelAssetOptions) {}

  get file(): string {
    return this.options.file;
  }

  /**
   * Makes sure a copy exists (waits for the download when there is none) and starts a refresh in
   * the background when the copy is older than REFRESH_MS. Resolves with the file's bytes, or
   * undefined when there is no copy and none could be fetched.
   */
  async ensure(settings: PanelSettings): Promise<Buffer | undefined> {
    const age = await this.age();
    if (age === undefined) {
      await this.update(settings);
    } else if (settings.autoUpdate && age > REFRESH_MS) {
      void this.update(settings);
    }
    return readFile(this.options.file).catch(() => undefined);
  }

  /** Downloads the latest release's asset unless an attempt was made in the last 30 s. */
  update(settings: PanelSettings): Promise<void> {
    if (this.inFlight) return this.inFlight;
    const now = Date.now();
    if (now - this.lastAttempt < MIN_ATTEMPT_GAP_MS) return Promise.resolve();
    this.lastAttempt = now;
    this.inFlight = this.download(settings)
      .catch((err: unknown) => {
        this.options.log.warn({ err: (err as Error).message, repository: settings.repository }, 'management panel: download failed; keeping the copy we have');
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  private async age(): Promise<number | undefined> {
    try {
      return Date.now() - (await stat(this.options.file)).mtimeMs;
    } catch {
      return undefined;
    }
  }

  private async download(settings: PanelSettings): Promise<void> {
    const dispatcher = this.options.dispatcher(settings.proxyUrl);
    const releaseUrl = releaseApiUrl(settings.repository);
    const release = JSON.parse((await get(releaseUrl, dispatcher, 1024 * 1024, 'application/vnd.github+json')).toString('utf8')) as unknown;
    const asset = findAsset(release);
    if (!asset) throw new Error(`the latest release at ${releaseUrl} has no ${PANEL_FILE} asset`);
    const bytes = await get(asset.url, dispatcher, MAX_ASSET_BYTES, 'application/octet-stream');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (asset.sha256 !== undefined && asset.sha256 !== sha256) {
      this.options.log.error({ expected: asset.sha256, got: sha256 }, 'management panel: digest mismatch; the download was discarded');
      return;
    }
    if (asset.sha256 === undefined) this.options.log.warn({ sha256 }, 'management panel: the release publishes no digest; installed unverified');
    const current = await readFile(this.options.file).catch(() => undefined);
    if (current && createHash('sha256').update(current).digest('hex') === sha256) {
      // Same file: touch nothing but its age, so the next check is in 3 h.
      await writeAtomically(this.options.file, current);
      return;
    }
    await writeAtomically(this.options.file, bytes);
    this.options.log.info({ sha256, bytes: bytes.length }, 'management panel: installed the latest release');
  }
}

function findAsset(release: unknown): Asset | undefined {
  const assets = (release as { assets?: unknown } | null)?.assets;
  if (!Array.isArray(assets)) return undefined;
  for (const a of assets as Array<Record<string, unknown>>) {
    if (typeof a?.name !== 'string' || a.name.toLowerCase() !== PANEL_FILE) continue;
    const url = typeof a.browser_download_url === 'string' ? a.browser_download_url : typeof a.url === 'string' ? a.url : undefined;
    if (!url) return undefined;
    const digest = typeof a.digest === 'string' ? a.digest.trim().toLowerCase() : '';
    return { url, sha256: digest.startsWith('sha256:') ? digest.slice(7) : undefined };
  }
  return undefined;
}

/** GET with redirects followed (release assets redirect to a CDN), bounded in size and time. */
async function get(url: string, dispatcher: Dispatcher, limit: number, accept: string): Promise<Buffer> {
  let location = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await request(location, {
      method: 'GET',
      dispatcher,
      headers: { accept, 'user-agent': 'cliproxy' },
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
    });
    if (res.statusCode >= 300 && res.statusCode < 400 && typeof res.headers.location === 'string') {
      await res.body.dump();
      location = new URL(res.headers.location, location).toString();
      continue;
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`GET ${location} answered ${res.statusCode}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        res.body.destroy();
        throw new Error(`GET ${location}: more than ${limit} bytes`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }
  throw new Error(`GET ${url}: too many redirects`);
}

async function writeAtomically(file: string, bytes: Buffer): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temp, bytes);
  await rename(temp, file);
}
