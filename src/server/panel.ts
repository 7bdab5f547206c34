/**
 * GET /management.html: the Management Center, downloaded at run time (panel/release.ts) and served
 * from `static/` beside config.yaml, as CLI Proxy API serves it. `disable-control-panel: true` → 404.
 * With no copy and no way to fetch one, a short page says how to install it by hand.
 */
import { join } from 'node:path';
import { ProxyError } from '../errors.js';
import { DEFAULT_PANEL_REPOSITORY, PANEL_FILE, PanelAsset, staticDir, type PanelSettings } from '../panel/release.js';
import type { Runtime } from '../runtime.js';
import type { Mount } from './app.js';
import type { RequestContext } from './context.js';

const PATH = '/management.html';

function settingsOf(ctx: RequestContext): PanelSettings {
  const config = ctx.snap.config;
  const rm = config['remote-management'];
  return {
    repository: rm['panel-github-repository'] ?? DEFAULT_PANEL_REPOSITORY,
    proxyUrl: config['proxy-url'],
    autoUpdate: !rm['disable-auto-update-panel'],
  };
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

function missingPage(file: string, repository: string): string {
  return `<!doctype html><meta charset="utf-8"><title>cliproxy: management panel not installed</title>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5">
<h1>The management panel is not installed yet</h1>
<p>cliproxy downloads the Management Center from the latest release of
<code>${escapeHtml(repository)}</code>, and that download failed (no network, or the release has no
<code>${PANEL_FILE}</code>). It tries again at most every 30 seconds: reload this page later, or install it by hand:</p>
<ol><li>Download <code>${PANEL_FILE}</code> from the project's latest release (or build it: <code>npm install &amp;&amp; npm run build</code>).</li>
<li>Put it at <code>${escapeHtml(file)}</code>.</li></ol>
<p>Set <code>remote-management.panel-github-repository</code> to a mirror's <code>releases/latest</code> API URL to download from elsewhere, and
<code>proxy-url</code> if the internet is reached through a proxy.</p></body>`;
}

/** The /management.html mount; `configPath` places `static/`. */
export function createPanel(rt: Runtime, configPath: string): Mount {
  const asset = new PanelAsset({
    file: join(staticDir(configPath), PANEL_FILE),
    dispatcher: (proxyUrl) => rt.dispatchers.get(proxyUrl, rt.store.current().timeoutsMs.connect),
    log: rt.log,
  });
  return async (ctx) => {
    if (ctx.path !== PATH) return false;
    if (ctx.snap.config['remote-management']['disable-control-panel']) throw new ProxyError(404, 'not_found', `no such endpoint: ${ctx.req.method} ${ctx.path}`);
    if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') {
      ctx.headers.allow = 'GET, HEAD';
      throw new ProxyError(405, 'method_not_allowed', `${ctx.req.method} is not allowed on ${PATH}; use GET`);
    }
    const settings = settingsOf(ctx);
    const html = await asset.ensure(settings);
    const body = html ?? Buffer.from(missingPage(asset.file, settings.repository));
    ctx.res.writeHead(html ? 200 : 503, {
      ...ctx.headers,
      'content-type': 'text/html; charset=utf-8',
      'content-length': body.length,
      'cache-control': 'no-cache',
    });
    ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
