#!/usr/bin/env node
/**
 * Installs the real coding CLIs that test/clients/ drives, at PINNED versions, into a cache folder
 * outside package.json (together they are ~750 MB): `<repo>/.cache/clients` (gitignored), or
 * $CLIENTS_CACHE_DIR. A CLI already installed at its pinned version is not installed again.
 *
 *   node scripts/install-clients.mjs          install what is missing, print where each CLI lives
 *   node scripts/install-clients.mjs --check  exit 1 if any CLI is missing (installs nothing)
 *
 * Each CLI gets its own prefix (`<cache>/<name>@<version>`), so bumping one pin never disturbs the
 * others and a half-finished install is never mistaken for a finished one (a marker file is
 * written last).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The pins live in scripts/clients.json (test/clients/harness.ts reads them too). Bump there. */
const CLIENTS = Object.entries(JSON.parse(readFileSync(join(repo, 'scripts', 'clients.json'), 'utf8'))).map(([name, c]) => ({ name, ...c }));
const cacheDir = resolve(process.env.CLIENTS_CACHE_DIR || join(repo, '.cache', 'clients'));

const prefixOf = (c) => join(cacheDir, `${c.name}@${c.version}`);
const markerOf = (c) => join(prefixOf(c), 'installed.json');
/** The CLI's executable inside its prefix (npm links bins into node_modules/.bin). */
const binOf = (c) => join(prefixOf(c), 'node_modules', '.bin', c.bin);

async function installed(c) {
  if (!existsSync(binOf(c))) return false;
  try {
    const marker = JSON.parse(await readFile(markerOf(c), 'utf8'));
    return marker.version === c.version;
  } catch {
    return false;
  }
}

function npm(args, cwd) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('npm', args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`npm ${args.join(' ')} exited with ${code}`))));
  });
}

async function install(c) {
  const prefix = prefixOf(c);
  await rm(prefix, { recursive: true, force: true });
  await mkdir(prefix, { recursive: true });
  // A package.json of its own keeps npm from walking up into the repo's.
  await writeFile(join(prefix, 'package.json'), JSON.stringify({ name: `cliproxy-client-${c.name}`, private: true }));
  const started = Date.now();
  await npm(['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=error', `${c.pkg}@${c.version}`], prefix);
  if (!existsSync(binOf(c))) throw new Error(`${c.pkg}@${c.version} installed no ${c.bin} executable`);
  await writeFile(markerOf(c), JSON.stringify({ pkg: c.pkg, version: c.version, seconds: (Date.now() - started) / 1000 }));
  return (Date.now() - started) / 1000;
}

async function main() {
  const check = process.argv.includes('--check');
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const wanted = only.length > 0 ? CLIENTS.filter((c) => only.includes(c.name)) : CLIENTS;
  let missing = 0;
  for (const c of wanted) {
    if (await installed(c)) {
      console.log(`${c.pkg}@${c.version}: installed (${binOf(c)})`);
      continue;
    }
    if (check) {
      console.log(`${c.pkg}@${c.version}: missing`);
      missing++;
      continue;
    }
    console.log(`${c.pkg}@${c.version}: installing into ${prefixOf(c)} ...`);
    const seconds = await install(c);
    console.log(`${c.pkg}@${c.version}: installed in ${seconds.toFixed(0)} s`);
  }
  if (missing > 0) process.exit(1);
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
