/**
 * First run: when ./config.yaml is missing, copy the packaged, fully commented config.example.yaml
 * there with a freshly generated client key in place of the example's placeholder.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const EXAMPLE_CONFIG_PATH = fileURLToPath(new URL('../../config.example.yaml', import.meta.url));
/** The client key the example file carries; replaced in a starter config. */
export const EXAMPLE_CLIENT_KEY = 'your-api-key-1';

export function generateClientKey(): string {
  return `sk-cliproxy-${randomBytes(18).toString('base64url')}`;
}

/** Writes the starter config unless `path` exists; returns the generated key when it wrote one. */
export async function writeStarterConfig(path: string): Promise<{ apiKey: string } | undefined> {
  const example = await readFile(EXAMPLE_CONFIG_PATH, 'utf8');
  const apiKey = generateClientKey();
  try {
    await writeFile(path, example.replace(`"${EXAMPLE_CLIENT_KEY}"`, `"${apiKey}"`), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw err;
  }
  return { apiKey };
}
