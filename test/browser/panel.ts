/**
 * Opt-in browser test of the Management Center against cliproxy (not part of `npm test`: it needs a
 * built panel and Debian's chromium):
 *   npm run test:panel -- --panel-html /path/to/Cli-Proxy-API-Management-Center/dist/index.html [--screenshots DIR]
 * The panel is served to cliproxy by a fake GitHub-compatible release server on loopback, so the
 * real download path is used. Headless Chromium then logs in, lists the providers, adds one, sees
 * usage after a few requests, and saves a config.yaml with an error.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import { configText, SECRET } from '../helpers/management.js';
import { chatBody, post, startProxy } from '../helpers/proxy.js';
import { completion, json, mockUpstream } from '../helpers/upstream.js';

const { values } = parseArgs({ options: { 'panel-html': { type: 'string' }, screenshots: { type: 'string' }, chromium: { type: 'string', default: '/usr/bin/chromium' } } });
const panelFile = values['panel-html'];
if (!panelFile) {
  console.error('usage: npm run test:panel -- --panel-html FILE [--screenshots DIR] [--chromium PATH]');
  process.exit(2);
}
if (!existsSync(values.chromium!)) {
  console.error(`no Chromium at ${values.chromium}: apt-get install chromium (or pass --chromium PATH)`);
  process.exit(2);
}
const html = await readFile(panelFile);
const shots = values.screenshots;
if (shots) await mkdir(shots, { recursive: true });

// The release server: GitHub's releases/latest shape, asset with its sha256 digest.
const release = createServer((req, res) => {
  const origin = `http://127.0.0.1:${(release.address() as AddressInfo).port}`;
  if (req.url === '/repos/router-for-me/panel/releases/latest') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ tag_name: 'test', assets: [{ name: 'management.html', browser_download_url: `${origin}/management.html`, digest: `sha256:${createHash('sha256').update(html).digest('hex')}` }] }));
  }
  if (req.url === '/management.html') return res.end(html);
  res.writeHead(404).end();
});
await new Promise<void>((r) => release.listen(0, '127.0.0.1', r));
const releaseUrl = `http://127.0.0.1:${(release.address() as AddressInfo).port}/repos/router-for-me/panel/releases/latest`;

const upstream = await mockUpstream(json(completion('hello from upstream')));
const proxy = await startProxy(configText(upstream.url).replace('remote-management:\n', `remote-management:\n  panel-github-repository: "${releaseUrl}"\n`));
const browser = await chromium.launch({
  executablePath: values.chromium,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let step = 0;
const snap = async (page: Page, name: string) => {
  if (shots) await page.screenshot({ path: join(shots, `${String(++step).padStart(2, '0')}-${name}.png`), fullPage: true });
};
const failures: string[] = [];
const check = async (name: string, fn: () => Promise<void>, page: Page) => {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (err) {
    failures.push(name);
    console.log(`not ok - ${name}: ${(err as Error).message.split('\n')[0]}`);
  }
  await snap(page, name.replace(/\W+/g, '-'));
};

try {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const apiErrors: string[] = [];
  page.on('response', (r) => {
    if (r.url().includes('/v0/management/') && r.status() >= 404 && r.status() !== 502) apiErrors.push(`${r.status()} ${new URL(r.url()).pathname}`);
  });

  await check('log in with the management secret', async () => {
    await page.goto(`${proxy.url}/management.html`);
    await page.locator('input[name="cpa-management-key"]').fill(SECRET);
    await page.getByRole('button', { name: 'Login' }).click();
    await page.waitForURL(/#\/(dashboard)?$/, { timeout: 15_000 });
    await page.getByText(/Connected/i).first().waitFor({ timeout: 15_000 });
  }, page);

  await check('list the openai-compatibility providers', async () => {
    await page.goto(`${proxy.url}/management.html#/ai-providers`);
    await page.getByText('OpenAI Compa').first().click();
    await page.getByText('openrouter', { exact: true }).first().waitFor({ timeout: 15_000 });
    await page.getByText('groq', { exact: true }).first().waitFor({ timeout: 5_000 });
  }, page);

  await check('add a provider', async () => {
    await page.getByRole('button', { name: 'New' }).last().click();
    const baseUrl = page.getByPlaceholder('https://api.example.com');
    await baseUrl.locator('xpath=preceding::input[1]').fill('panel-added'); // Name
    await baseUrl.fill(upstream.url);
    await page.getByPlaceholder('Enter API key').fill('sk-panel-added-key-123456');
    await page.getByText('Custom models', { exact: true }).click();
    await page.getByPlaceholder('model-name').last().fill('added-model');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByText('panel-added', { exact: true }).first().waitFor({ timeout: 10_000 });
    const saved = await readFile(proxy.configPath, 'utf8');
    assert.match(saved, /name: "?panel-added"?/);
    assert.match(saved, /# the main provider/, 'comments kept');
    const res = await post(`${proxy.url}/v1/chat/completions`, chatBody('added-model'));
    assert.equal(res.status, 200);
    assert.equal(upstream.requests.at(-1)!.headers.authorization, 'Bearer sk-panel-added-key-123456');
  }, page);

  await check('usage after a few requests', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await post(`${proxy.url}/v1/chat/completions`, chatBody('openrouter-claude'))).status, 200);
    await page.goto(`${proxy.url}/management.html#/dashboard`);
    const usage = await page.evaluate(async (secret) => (await fetch('/v0/management/api-key-usage', { headers: { authorization: `Bearer ${secret}` } })).json(), SECRET);
    const rows = Object.values((usage as Record<string, Record<string, { success: number }>>).openrouter ?? {});
    assert.equal(rows[0]?.success, 3);
  }, page);

  await check('config.yaml with an error is refused and shown', async () => {
    await page.getByText('Config Panel').click();
    await page.getByRole('button', { name: 'Source' }).click();
    const before = await readFile(proxy.configPath, 'utf8');
    await page.locator('.cm-content').first().click();
    await page.keyboard.press('Control+End');
    await page.keyboard.type('\nport: "not a number"\n');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('button', { name: 'Confirm Save' }).click();
    await page.getByText(/port: Invalid input: expected number/).first().waitFor({ timeout: 10_000 });
    assert.equal(await readFile(proxy.configPath, 'utf8'), before, 'config.yaml unchanged');
  }, page);

  if (apiErrors.length) console.log(`# management calls that failed: ${[...new Set(apiErrors)].join(', ')}`);
} finally {
  await browser.close();
  await proxy.close();
  await upstream.close();
  release.close();
}
console.log(`# pass ${5 - failures.length}\n# fail ${failures.length}`);
process.exit(failures.length ? 1 : 0);
