/**
 * Every client API × every upstream family, end to end: the official SDK of each client API, the
 * real gateway, and a loopback upstream speaking each vendor's API (test/helpers/vendors.ts). Each
 * pair must carry a plain answer, a streamed answer and a tool-call round trip.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { anthropicDriver, chatDriver, type ClientDriver } from './helpers/clients.js';
import { startProxy, type TestProxy } from './helpers/proxy.js';
import { vendorConfig, vendorUpstream, type Family } from './helpers/vendors.js';

const FAMILIES: Family[] = ['openai', 'anthropic', 'gemini', 'responses'];
const UPSTREAM_MODEL: Record<Family, string> = { openai: 'gpt-4o-mini', anthropic: 'claude-sonnet-4-5', gemini: 'gemini-2.5-flash', responses: 'gpt-5-codex' };

let proxy: TestProxy;
const upstreams = new Map<Family, Awaited<ReturnType<typeof vendorUpstream>>>();
const drivers: Array<(p: TestProxy) => ClientDriver> = [chatDriver, anthropicDriver];

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
        assert.equal(await makeDriver(proxy).text(model), `Hello from ${family}`);
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
        assert.equal(answer, 'Tool said: 18C and sunny');
      });
    }
  });
}
