/**
 * Every client API × every upstream family, end to end: the official SDK of each client API, the
 * real gateway, and a loopback upstream speaking each vendor's API (test/helpers/vendors.ts). Each
 * pair must carry a plain answer, a streamed answer and a tool-call round trip.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { anthropicDriver, chatDriver, geminiDriver, responsesDriver, type ClientDriver } from './helpers/clients.js';
import { startProxy, type TestProxy } from './helpers/proxy.js';
import { vendorConfig, vendorUpstream, type Family } from './helpers/vendors.js';

const FAMILIES: Family[] = ['openai', 'anthropic', 'gemini', 'responses'];
const UPSTREAM_MODEL: Record<Family, string> = { openai: 'gpt-4o-mini', anthropic: 'claude-sonnet-4-5', gemini: 'gemini-2.5-flash', responses: 'gpt-5-codex' };

let proxy: TestProxy;
const upstreams = new Map<Family, Awaited<ReturnType<typeof vendorUpstream>>>();
const drivers: Array<(p: TestProxy) => ClientDriver> = [chatDriver, anthropicDriver, responsesDriver, geminiDriver];

before(async () => {
  const config: Record<string, unknown[]> = {};
  for (const family of FAMILIES) {
    const upstream = await vendorUpstream(family);
    upstreams.set(family, upstream);
    const [key, entry] = vendorConfig(family, upstream.baseUrl, UPSTREAM_MODEL[family], `via-${family}`);
    (config[key] ??= []).push(entry);
  }
  proxy = await startProxy(config);
});

after(async () => {
  await proxy?.close();
  await Promise.all([...upstreams.values()].map((u) => u.close()));
});

for (const makeDriver of drivers) {
  describe(`client ${makeDriver.name.replace('Driver', '')}`, () => {
    for (const family of FAMILIES) {
      const model = `via-${family}`;
      test(`${family}: text`, async () => {
        const driver = makeDriver(proxy);
        assert.equal(await driver.text(model), `Hello from ${family}`);
        // Same API on both sides: the client's own body went up (a string stays a string).
        const got = upstreams.get(family)!.requests.at(-1)!.json;
        if (driver.name === 'anthropic' && family === 'anthropic') assert.equal(got.messages[0].content, 'Hi');
        if (driver.name === 'responses' && family === 'responses') assert.equal(got.input, 'Hi');
        if (driver.name === 'anthropic' && family === 'responses') assert.notEqual(got.input, 'Hi');
      });
      test(`${family}: stream`, async () => {
        const { text, events } = await makeDriver(proxy).stream(model);
        assert.equal(text, `Hello from ${family}`);
        assert.ok(events >= 3, `streamed in several events (${events})`);
      });
      test(`${family}: tool-call round trip`, async () => {
        const { call, answer } = await makeDriver(proxy).tools(model, '18C and sunny');
        assert.equal(call.name, 'get_weather');
        assert.deepEqual(call.args, { city: 'Paris' });
        // A Gemini functionResponse is an object ({result}); other APIs carry the text itself.
        assert.match(answer, /^Tool said: (18C and sunny|\{"result":"18C and sunny"\})$/);
      });
    }
  });
}
