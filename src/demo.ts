#!/usr/bin/env node
/**
 * `npm run demo`: cliproxy on port 8317 (or --port) with the seed's example models, all served by a
 * built-in loopback echo provider. The client key is the seed's `your-api-key-1`. Its config lives
 * in a temp folder that is removed on exit.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { printBanner } from './banner.js';
import { startEchoUpstream } from './demo/echo-upstream.js';
import { startGateway } from './gateway.js';
import { EXAMPLE_CLIENT_KEY } from './config/starter.js';
import { exitOnSignals } from './shutdown.js';

const { values } = parseArgs({ options: { port: { type: 'string', short: 'p' } } });
const echo = await startEchoUpstream();
const dir = await mkdtemp(join(tmpdir(), 'cliproxy-demo-'));
// The demo's config folder goes with the process however it ends (signal, startup error, normal
// exit). 'exit' handlers cannot wait, hence the sync call (once, at exit, off any request path).
const removeDir = () => rmSync(dir, { recursive: true, force: true });
process.once('exit', removeDir);
const configPath = join(dir, 'config.yaml');
const models = (pairs: Array<[string, string]>) => pairs.map(([name, alias]) => ({ name, alias }));
await writeFile(
  configPath,
  `# Written by npm run demo: every provider points at the built-in echo provider.\n${stringify({
    port: values.port ? Number(values.port) : 8317,
    'api-keys': [EXAMPLE_CLIENT_KEY],
    'openai-compatibility': [
      {
        name: 'openrouter',
        'base-url': echo.url,
        'api-key-entries': [{ 'api-key': 'sk-or-v1-demo-b780' }, { 'api-key': 'sk-or-v1-demo-b781' }],
        models: models([
          ['anthropic/claude-3.5-sonnet', 'openrouter-claude'],
          ['moonshotai/kimi-k2:free', 'kimi-k2'],
          ['openai/gpt-4-turbo', 'openrouter-gpt4'],
          ['text-embedding-3-small', 'text-embedding-3-small'],
        ]),
      },
      { name: 'groq', 'base-url': echo.url, models: models([['llama-3.3-70b-versatile', 'groq-llama']]) },
      {
        name: 'pool',
        'base-url': echo.url,
        models: models([
          ['qwen3.5-plus', 'smart-model'],
          ['glm-5', 'smart-model'],
          ['kimi-k2.5', 'smart-model'],
        ]),
      },
      { name: 'or', prefix: 'or', 'base-url': echo.url, models: models([['anthropic/claude-3.5-sonnet', 'claude-sonnet']]) },
    ],
  })}`,
);
const gateway = await startGateway({ configPath });
printBanner(gateway, configPath, []);
process.stdout.write(
  `\nTry it:\n  curl ${gateway.url}/v1/chat/completions -H "Authorization: Bearer ${EXAMPLE_CLIENT_KEY}" -H "Content-Type: application/json" \\\n    -d '{"model":"openrouter-claude","messages":[{"role":"user","content":"Hello"}]}'\n`,
);
exitOnSignals({
  log: gateway.runtime.log,
  capMs: 5000,
  beforeExit: removeDir, // a second signal ends the process without 'exit' handlers
  drain: async (capMs) => {
    await gateway.close(capMs);
    echo.server.close();
  },
});
