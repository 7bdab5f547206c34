#!/usr/bin/env node
/**
 * Entry point: `cliproxy [--config FILE] [--port N] [--host H]`. Loads and validates the config
 * (errors name the key path and line, exit 1, no stack trace), writes a starter config.yaml on
 * first run, serves, and drains on SIGINT/SIGTERM (shutdown.ts; a second signal exits at once).
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { ConfigError, loadConfigFile } from './config/load.js';
import { writeStarterConfig } from './config/starter.js';
import { startGateway, type Gateway } from './gateway.js';
import { createLogger } from './observe/logger.js';
import { printBanner } from './banner.js';
import { exitOnSignals } from './shutdown.js';
import { VERSION } from './version.js';
import { ConfigEditor } from './config/persist.js';
import { ConfigStore } from './config/store.js';
import { isWorker, onDrainRequest, parseWorkersFlag, runPrimary, workerCount, WORKER_RESTARTED, WORKER_SLOT } from './workers.js';

const HELP = `cliproxy ${VERSION}: an OpenAI-compatible gateway for openai-compatibility providers

Usage: cliproxy [--config FILE] [--port N] [--host HOST] [--workers N|auto]

  -c, --config FILE   config.yaml to load (default: ./config.yaml; created from the example
                      with a fresh client key when missing)
  -p, --port N        listen on this port instead of the file's "port" (default 8317)
      --host HOST     listen on this address instead of the file's "host" (default: all)
      --workers N     N processes on the same port ("auto": one per core; default: the
                      file's "workers", else 1). Without redis-url each has its own state
  -h, --help          this text
  -v, --version       the version
`;

const DRAIN_MS = 30_000;

function fatal(message: string): never {
  process.stderr.write(`cliproxy: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        workers: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
    }));
  } catch (err) {
    fatal(`${(err as Error).message}\n\n${HELP}`);
  }
  if (values.help) return void process.stdout.write(HELP);
  if (values.version) return void process.stdout.write(`${VERSION}\n`);

  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) fatal(`--port: expected a port number (0-65535), got "${values.port}"`);
  }
  let workersFlag: number | 'auto' | undefined;
  try {
    workersFlag = parseWorkersFlag(values.workers);
  } catch (err) {
    fatal((err as Error).message);
  }
  const configPath = resolve(values.config ?? 'config.yaml');
  if (values.config === undefined && !isWorker()) {
    const starter = await writeStarterConfig(configPath);
    if (starter) {
      process.stdout.write(`No config.yaml found: wrote a starter config to ${configPath}\nYour client API key: ${starter.apiKey}\n\n`);
    }
  }

  let loaded;
  try {
    loaded = await loadConfigFile(configPath);
  } catch (err) {
    if (err instanceof ConfigError) fatal(`invalid configuration\n${err.message}`);
    throw err;
  }
  const logger = createLogger({ debug: loaded.config.debug });
  const workers = workerCount(workersFlag ?? loaded.config.workers);
  if (workers > 1 && !isWorker()) {
    // Hash a plaintext management secret once here, not in every worker at the same time.
    await new ConfigEditor(new ConfigStore(loaded, configPath), logger).ensureSecretHashed();
    process.stdout.write(`cliproxy ${VERSION}: starting ${workers} workers on port ${port ?? loaded.config.port}${loaded.config['redis-url'] || process.env.REDIS_URL ? ' (state shared through redis)' : ' (no redis-url: each worker keeps its own state)'}\n`);
    return runPrimary(workers, logger);
  }
  // A worker listens for the primary's drain request from the start: one still starting just exits.
  let started: Gateway | undefined;
  if (isWorker()) {
    // gateway.close() is idempotent: a signal and the primary's request may both arrive.
    onDrainRequest(() => (started ? void started.close(DRAIN_MS).then(() => process.exit(0), () => process.exit(1)) : process.exit(0)));
  }
  let gateway: Gateway;
  try {
    gateway = await startGateway({ configPath, loaded, port, host: values.host, logger });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') fatal(`port ${port ?? loaded.config.port} is already in use (set "port" in ${configPath} or pass --port)`);
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES') fatal(`cannot listen on ${values.host ?? loaded.config.host ?? '*'}:${port ?? loaded.config.port} (${e.code})`);
    throw err;
  }
  // With workers, the first one prints the banner, once.
  if (!isWorker() || (process.env[WORKER_SLOT] === '0' && !process.env[WORKER_RESTARTED])) printBanner(gateway, configPath, loaded.unusedKeys);

  exitOnSignals({ log: logger, drain: (capMs) => gateway.close(capMs), capMs: DRAIN_MS });
  started = gateway;
}

main().catch((err: unknown) => {
  fatal(err instanceof Error ? err.message : String(err));
});
