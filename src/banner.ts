/** The startup banner: where cliproxy listens, which file it serves, and what models it exposes. */
import type { Gateway } from './gateway.js';
import { VERSION } from './version.js';

export function printBanner(gateway: Gateway, configPath: string, unusedKeys: readonly string[]): void {
  const snap = gateway.store.current();
  const lines = [`cliproxy ${VERSION} listening on ${gateway.url}  (OpenAI base URL: ${gateway.url}/v1)`, `config: ${configPath}`];
  const pools = snap.registry.list;
  if (pools.length === 0) {
    lines.push('models: none yet: add providers under "openai-compatibility" in the config file');
  } else {
    lines.push(`models (${pools.length}):`);
    for (const pool of pools) {
      const members = pool.members.map((m) => `${m.provider.name}:${m.upstreamModel}`).join(', ');
      lines.push(`  ${pool.id}  ->  ${members}`);
    }
  }
  if (snap.config['api-keys'].length === 0) {
    lines.push('WARNING: NO API-KEYS CONFIGURED: THE PROXY IS OPEN TO ANYONE WHO CAN REACH IT');
  }
  if (unusedKeys.length > 0) lines.push(`not used by cliproxy (accepted for CLI Proxy API compatibility; README "Not supported" says why): ${unusedKeys.join(', ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
