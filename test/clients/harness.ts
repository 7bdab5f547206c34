/**
 * The real-CLI harness: a scripted OpenAI-compatible upstream on loopback (scripted-upstream.ts),
 * the BUILT cliproxy (dist/cli.js, as users run it) in front of it with a temp config, and the
 * pinned CLIs from the cache folder that scripts/install-clients.mjs fills, each run headless with a
 * throwaway HOME, stdin closed and a timeout. Tests assert on what the CLI printed and what the
 * upstream saw.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { UPSTREAM_MODEL } from './scripted-upstream.js';

export * from './scripted-upstream.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLIENT_KEY = 'sk-clients-test-key-0001';
/** The client-visible model every CLI is pointed at (an alias of the scripted upstream's model). */
export const MODEL = 'test-model';

type ClientName = 'claude' | 'codex' | 'gemini';
interface Pin {
  readonly pkg: string;
  readonly version: string;
  readonly bin: string;
}
export const PINS: Record<ClientName, Pin> = JSON.parse(readFileSync(join(REPO, 'scripts', 'clients.json'), 'utf8'));
const CACHE = resolve(process.env.CLIENTS_CACHE_DIR || join(REPO, '.cache', 'clients'));

/** The pinned CLI's executable; a clear error when `npm run test:clients` has not installed it. */
export function clientBin(name: ClientName): string {
  const pin = PINS[name];
  const bin = join(CACHE, `${name}@${pin.version}`, 'node_modules', '.bin', pin.bin);
  if (!existsSync(bin)) throw new Error(`${pin.pkg}@${pin.version} is not installed in ${CACHE}: run \`npm run test:clients\` (or node scripts/install-clients.mjs)`);
  return bin;
}

// ---------------------------------------------------------------- the built server

export interface BuiltServer {
  readonly url: string;
  /** Everything the server printed (banner, logs). */
  output(): string;
  close(): Promise<void>;
}

/** `node dist/cli.js` with a temp config whose one provider is `upstream`, on a loopback port 0. */
export async function startBuiltServer(upstream: { url: string }, extraConfig: Record<string, unknown> = {}): Promise<BuiltServer> {
  const cli = join(REPO, 'dist', 'cli.js');
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` first');
  const dir = await mkdtemp(join(tmpdir(), 'cliproxy-clients-'));
  const configPath = join(dir, 'config.yaml');
  const config = {
    'api-keys': [CLIENT_KEY],
    'openai-compatibility': [
      { name: 'scripted', 'base-url': upstream.url, 'api-key-entries': [{ 'api-key': 'sk-scripted-upstream-key' }], models: [{ name: UPSTREAM_MODEL, alias: MODEL }] },
    ],
    ...extraConfig,
  };
  await writeFile(configPath, stringify(config));
  const child = spawn(process.execPath, [cli, '--config', configPath, '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`cliproxy did not start within 15 s:\n${out}`)), 15_000);
    const check = () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cliproxy exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url,
    output: () => out,
    async close() {
      await stop(child, 5_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process (group) has exited. */
async function stop(child: ChildProcess, graceMs: number, group = false): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const kill = (signal: NodeJS.Signals) => {
    try {
      if (group && child.pid) process.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      /* already gone */
    }
  };
  kill('SIGTERM');
  const timer = setTimeout(() => kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------- running a CLI

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface CliOptions {
  readonly args: readonly string[];
  /** Added to a minimal environment (PATH, a throwaway HOME, TERM=dumb): nothing of ours leaks in. */
  readonly env?: Record<string, string>;
  /** Files to write into the throwaway HOME before the run, by relative path. */
  readonly homeFiles?: Record<string, string>;
  /** Working directory (default: a fresh temp dir). */
  readonly cwd?: string;
  readonly timeoutMs?: number;
}

/** Runs `bin` headless: throwaway HOME, stdin closed, killed (with its children) at the timeout. */
export async function runCli(bin: string, options: CliOptions): Promise<CliRun> {
  const home = await mkdtemp(join(tmpdir(), 'cliproxy-client-home-'));
  const cwd = options.cwd ?? (await mkdtemp(join(tmpdir(), 'cliproxy-client-cwd-')));
  try {
    for (const [rel, text] of Object.entries(options.homeFiles ?? {})) {
      await mkdir(dirname(join(home, rel)), { recursive: true });
      await writeFile(join(home, rel), text);
    }
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TERM: 'dumb', NO_COLOR: '1', CI: 'true', ...options.env };
    const started = Date.now();
    const child = spawn(bin, options.args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void stop(child, 2_000, true);
    }, options.timeoutMs ?? 120_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('close', (c, s) => r([c, s])));
    clearTimeout(timer);
    return { code, signal, timedOut, stdout, stderr, ms: Date.now() - started };
  } finally {
    await rm(home, { recursive: true, force: true });
    if (!options.cwd) await rm(cwd, { recursive: true, force: true });
  }
}

/** A CLI run summarised for assertion messages. */
export const describeRun = (run: CliRun): string =>
  `exit ${run.code}${run.signal ? ` (${run.signal})` : ''}${run.timedOut ? ' TIMED OUT' : ''} after ${run.ms} ms\n--- stdout\n${run.stdout.slice(-4000)}\n--- stderr\n${run.stderr.slice(-4000)}`;

/** Claude Code, pointed at cliproxy as README's "Claude Code" section says. */
export function runClaude(server: BuiltServer, prompt: string, options: Partial<CliOptions> = {}): Promise<CliRun> {
  return runCli(clientBin('claude'), {
    ...options,
    args: ['-p', prompt, '--model', MODEL, ...(options.args ?? [])],
    env: {
      ANTHROPIC_BASE_URL: server.url,
      ANTHROPIC_AUTH_TOKEN: CLIENT_KEY,
      ANTHROPIC_DEFAULT_HAIKU_MODEL: MODEL,
      ANTHROPIC_DEFAULT_SONNET_MODEL: MODEL,
      ANTHROPIC_DEFAULT_OPUS_MODEL: MODEL,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      ...options.env,
    },
  });
}

/** Codex CLI with a `cliproxy` model provider speaking the Responses API. */
export function runCodex(server: BuiltServer, prompt: string, options: Partial<CliOptions> = {}): Promise<CliRun> {
  const toml = [
    `model = "${MODEL}"`,
    'model_provider = "cliproxy"',
    '[model_providers.cliproxy]',
    'name = "cliproxy"',
    `base_url = "${server.url}/v1"`,
    'env_key = "CLIPROXY_KEY"',
    'wire_api = "responses"',
    '',
  ].join('\n');
  return runCli(clientBin('codex'), {
    ...options,
    args: ['exec', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', ...(options.args ?? []), prompt],
    homeFiles: { '.codex/config.toml': toml, ...options.homeFiles },
    env: { CLIPROXY_KEY: CLIENT_KEY, ...options.env },
  });
}

/** Gemini CLI with an API key pointed at cliproxy's Gemini API. */
export function runGemini(server: BuiltServer, prompt: string, options: Partial<CliOptions> = {}): Promise<CliRun> {
  return runCli(clientBin('gemini'), {
    ...options,
    args: ['-p', prompt, '-m', MODEL, ...(options.args ?? [])],
    homeFiles: { '.gemini/settings.json': JSON.stringify({ security: { auth: { selectedType: 'gemini-api-key' } } }), ...options.homeFiles },
    env: { GEMINI_API_KEY: CLIENT_KEY, GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_CLI_TRUST_WORKSPACE: 'true', ...options.env },
  });
}

/**
 * Whether cliproxy serves `method path` at all: anything but its "no such endpoint" 404 counts (a
 * 400 for an empty body means the route exists). Cases for client APIs still being built report `todo` by name on a 404.
 */
export async function serves(server: BuiltServer, method: string, path: string): Promise<boolean> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'x-goog-api-key': CLIENT_KEY, 'content-type': 'application/json' },
    body: method === 'GET' || method === 'HEAD' ? undefined : '{}',
  });
  const text = await res.text();
  return res.status !== 404 || !text.includes('no such endpoint');
}
