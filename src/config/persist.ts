/**
 * Every change to the configuration, from the management API or from the file on disk, goes
 * through one ConfigEditor: one change at a time (a promise queue, so concurrent edits are applied
 * in order and none is lost), validated with the startup schema, written to config.yaml through a
 * temp file + fsync + rename (a crash leaves the old file or the new one, never half of one), and
 * only then swapped into the store.
 */
import { createHash, randomBytes } from 'node:crypto';
import { access, chmod, constants, open, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseDocument, type Document } from 'yaml';
import type { Logger } from '../observe/logger.js';
import { describeChange, diffSnapshots } from './diff.js';
import { ConfigError, parseConfig, type LoadedConfig } from './load.js';
import { hashSecret, isBcryptHash } from './management-secret.js';
import type { Config } from './schema.js';
import type { ConfigStore, Snapshot } from './store.js';
import { mergeLines } from './text-merge.js';
import { styleOf } from './yaml-edit.js';

/** config.yaml changed on disk to something invalid: an edit based on it would discard the operator's text. */
export class ConfigConflict extends Error {
  override readonly name = 'ConfigConflict';
}

/** What an edit works on: a private copy of the document, and the validated config it holds. */
export interface Draft {
  readonly doc: Document;
  readonly config: Config;
}

export type ReloadOutcome = 'unchanged' | 'applied' | 'rejected';

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

export class ConfigEditor {
  private tail: Promise<unknown> = Promise.resolve();
  /** Digest of the last file content rejected by reload, so one bad save is logged once. */
  private rejected: string | undefined;
  /** Names the file in validation messages (`config.yaml:12: ...`). */
  private readonly label: string;

  constructor(
    readonly store: ConfigStore,
    private readonly log: Logger,
  ) {
    this.label = store.path ? basename(store.path) : 'config.yaml';
  }

  /** Runs jobs one after another, in call order, whatever the previous one's outcome. */
  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(job, job);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Applies `change` to a copy of the current document, then validates, writes and swaps.
   * Throws ConfigError when the result is invalid (nothing written), ConfigConflict, or what
   * `change` throws. Resolves with the snapshot in force afterwards.
   */
  edit(change: (draft: Draft) => void, origin = 'management'): Promise<Snapshot> {
    return this.serial(() => this.editNow(change, origin));
  }

  /** Replaces the whole file with `text` after validating it (ConfigError when invalid). */
  replace(text: string, origin = 'management'): Promise<Snapshot> {
    return this.serial(async () => {
      const loaded = parseConfig(text, this.label);
      if (text === this.store.current().text) return this.store.current();
      await this.write(text);
      return this.apply(loaded, origin);
    });
  }

  /** Re-reads config.yaml (the watcher calls this): valid → swapped; invalid → logged, old kept. */
  reload(): Promise<ReloadOutcome> {
    return this.serial(async () => {
      const path = this.store.path;
      const text = path === undefined ? undefined : await readText(path);
      // Missing mid-rename, or the text we already run (our own write): nothing to do.
      if (text === undefined || text === this.store.current().text) return 'unchanged';
      const hash = digest(text);
      if (hash === this.rejected) return 'unchanged';
      let loaded: LoadedConfig;
      try {
        if (text.trim() === '') throw new ConfigError(`${path}: the file is empty`);
        loaded = parseConfig(text, path);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        this.rejected = hash;
        this.log.error({ path }, `config.yaml change rejected, still serving the previous configuration:\n${err.message}`);
        return 'rejected';
      }
      this.rejected = undefined;
      this.apply(loaded, 'file');
      return 'applied';
    });
  }

  /** Replaces a plaintext `remote-management.secret-key` by its bcrypt hash, in memory and in the file. */
  ensureSecretHashed(): Promise<void> {
    return this.serial(async () => {
      const plain = this.store.current().config['remote-management']['secret-key'];
      if (!plain || isBcryptHash(plain)) return;
      const hashed = await hashSecret(plain);
      try {
        await this.editNow(({ doc, config }) => {
          if (config['remote-management']['secret-key'] === plain) doc.setIn(['remote-management', 'secret-key'], hashed);
        }, 'secret-hash');
        this.log.info('remote-management.secret-key replaced by its bcrypt hash');
      } catch (err) {
        // A read-only file still works: the plaintext secret is checked as such.
        this.log.warn({ err: (err as Error).message }, 'could not store the bcrypt hash of remote-management.secret-key');
      }
    });
  }

  private async editNow(change: (draft: Draft) => void, origin: string): Promise<Snapshot> {
    const current = await this.syncWithDisk();
    const doc = parseDocument(current.text);
    change({ doc, config: current.config });
    const text = render(current.text, doc);
    if (text === undefined) return current;
    const loaded = parseConfig(text, this.label);
    await this.write(text);
    return this.apply(loaded, origin);
  }

  /**
   * An edit must start from the file as it is now: if it changed on disk and the watcher has not
   * caught up yet (debounce), take that version first instead of overwriting it.
   */
  private async syncWithDisk(): Promise<Snapshot> {
    const current = this.store.current();
    const text = this.store.path === undefined ? undefined : await readText(this.store.path);
    if (text === undefined || text === current.text) return current;
    let loaded: LoadedConfig;
    try {
      loaded = parseConfig(text, this.label);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      throw new ConfigConflict(`${this.label} was changed on disk and is invalid; fix it first:\n${err.message}`);
    }
    this.rejected = undefined;
    return this.apply(loaded, 'file');
  }

  private apply(loaded: LoadedConfig, origin: string): Snapshot {
    const previous = this.store.current();
    const next = this.store.swap(loaded);
    const summary = describeChange(diffSnapshots(previous, next));
    this.log.info({ origin, generation: next.generation }, `config ${origin === 'file' ? 'reloaded' : 'changed'} (${origin}): ${summary}`);
    // A new plaintext secret (edited file, PUT config.yaml) is hashed right after, as at startup.
    const secret = next.config['remote-management']['secret-key'];
    if (secret && !isBcryptHash(secret)) void this.ensureSecretHashed();
    return next;
  }

  /** temp file in the same directory (same file system, so rename is atomic) → fsync → rename. */
  private async write(text: string): Promise<void> {
    if (this.store.path === undefined) return;
    // Through a symlink, replace the file it points to and keep the link.
    const target = await realpath(this.store.path).catch(() => this.store.path!);
    const dir = dirname(target);
    const temp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    // Keep the file's permissions: it holds secrets and may be 0600. A read-only file stays as it
    // is (rename would replace it regardless of its mode, only the directory's mode counts).
    const mode = await stat(target).then((s) => s.mode & 0o777, () => 0o600);
    await access(target, constants.W_OK).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    try {
      const file = await open(temp, 'wx', mode);
      try {
        await file.writeFile(text, 'utf8');
        await file.sync();
      } finally {
        await file.close();
      }
      await chmod(temp, mode);
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    await syncDirectory(dir);
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** fsync the directory so the rename itself survives a power cut (best effort: not every OS allows it). */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Windows cannot open directories; the rename is still atomic.
  }
}

/**
 * The text to write for an edited document, or undefined when the edit changed nothing. The edit
 * is applied to the original text line by line (text-merge.ts); if that merge does not read back
 * as exactly the edited data, the plainly rendered document is written instead.
 */
function render(original: string, edited: Document): string | undefined {
  const style = styleOf(original);
  const before = parseDocument(original).toString(style);
  const after = edited.toString(style);
  if (after === before) return undefined;
  const merged = mergeLines(original, before, after);
  if (merged !== undefined) {
    const check = parseDocument(merged);
    if (check.errors.length === 0 && isDeepStrictEqual(check.toJS(), parseDocument(after).toJS())) return merged;
  }
  return after;
}
