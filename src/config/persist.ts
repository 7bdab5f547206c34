/**
 * Every change to the configuration, from the management API or from the file on disk, goes
 * through one ConfigEditor: one change at a time (a promise queue, so concurrent edits are applied
 * in order and none is lost), validated with the startup schema, written to config.yaml as a
 * compare-and-swap (cas-write.ts: temp file + fsync + rename, only if the file still holds the
 * text the edit started from), and only then swapped into the store. An edit that finds the file
 * changed under it is redone on the new text (our own write-backs) or refused (management calls:
 * 409, the caller decides); the operator's text is never written over.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseDocument, type Document } from 'yaml';
import type { Logger } from '../observe/logger.js';
import { describeChange, diffSnapshots } from './diff.js';
import { ConfigError, parseConfig, type LoadedConfig } from './load.js';
import { hashSecret, isBcryptHash } from './management-secret.js';
import type { Config } from './schema.js';
import { swapIfUnchanged } from './cas-write.js';
import type { ConfigStore, Snapshot } from './store.js';
import { mergeLines } from './text-merge.js';
import { styleOf } from './yaml-edit.js';

/**
 * config.yaml changed on disk under an edit (or to something invalid): writing the edit would
 * discard the operator's text, so nothing was written. `precondition`: the caller's If-Match failed.
 */
export class ConfigConflict extends Error {
  override readonly name = 'ConfigConflict';
  constructor(
    message: string,
    readonly precondition = false,
  ) {
    super(message);
  }
}

/** What to do when the file changed between reading it and writing the edit back. */
type OnConflict = 'redo' | 'refuse';

/** Redo attempts of a write-back that keeps finding the file changed (a writer in a loop). */
const MAX_REDO = 5;

const changedUnderEdit = (label: string) =>
  new ConfigConflict(`${label} was changed on disk while this change was being saved; nothing was written. Retry on the current file.`);

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
  /**
   * Digests of plaintext secrets whose hash was written to the file once. If the operator puts
   * the same plaintext back (a deploy template), it is checked as plaintext: rewriting the file
   * on every save of an unchanged secret would race every such save.
   */
  private readonly hashedSecrets = new Set<string>();
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
   * Throws ConfigError when the result is invalid (nothing written), ConfigConflict (the file
   * changed on disk meanwhile: nothing written), or what `change` throws. Resolves with the
   * snapshot in force afterwards.
   */
  edit(change: (draft: Draft) => void, origin = 'management'): Promise<Snapshot> {
    return this.serial(() => this.editNow(change, origin, 'refuse'));
  }

  /**
   * Replaces the whole file with `text` after validating it (ConfigError when invalid). With
   * `ifMatch` (a digest from fileDigest), only if the file still is that version (ConfigConflict
   * with `precondition` otherwise); in any case only if the file did not change during the write.
   */
  replace(text: string, origin = 'management', ifMatch?: string): Promise<Snapshot> {
    return this.serial(async () => {
      const loaded = parseConfig(text, this.label);
      const path = this.store.path;
      const base = path === undefined ? this.store.current().text : await readText(path);
      if (ifMatch !== undefined && (base === undefined || digest(base) !== ifMatch)) {
        throw new ConfigConflict(`${this.label} has changed since that version was read; download it again and reapply the change`, true);
      }
      if (base === undefined) throw changedUnderEdit(this.label);
      if (text !== base && path !== undefined && !(await this.write(base, text))) throw changedUnderEdit(this.label);
      return text === this.store.current().text ? this.store.current() : this.apply(loaded, origin);
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

  /**
   * Replaces a plaintext `remote-management.secret-key` by its bcrypt hash, in memory and in the
   * file: once per plaintext value (see hashedSecrets).
   */
  ensureSecretHashed(): Promise<void> {
    return this.serial(async () => {
      const plain = this.store.current().config['remote-management']['secret-key'];
      if (!plain || isBcryptHash(plain)) return;
      const seen = digest(plain);
      if (this.hashedSecrets.has(seen)) return;
      const hashed = await hashSecret(plain);
      try {
        const after = await this.editNow(({ doc, config }) => {
          if (config['remote-management']['secret-key'] === plain) doc.setIn(['remote-management', 'secret-key'], hashed);
        }, 'secret-hash', 'redo');
        // The file may have moved on to another secret meanwhile: that one gets its own turn.
        if (after.config['remote-management']['secret-key'] !== hashed) return;
        this.hashedSecrets.add(seen);
        this.log.info('remote-management.secret-key replaced by its bcrypt hash');
      } catch (err) {
        // The file keeps changing (its next reload tries again), or is read-only: the plaintext
        // secret is then checked as such.
        if (err instanceof ConfigConflict) return void this.log.debug({ err: err.message }, 'secret hash not written yet: config.yaml is changing');
        this.hashedSecrets.add(seen); // not again for this value on every reload
        this.log.warn({ err: (err as Error).message }, 'could not store the bcrypt hash of remote-management.secret-key');
      }
    });
  }

  /** A digest of config.yaml's text (the management API's ETag), for `replace(..., ifMatch)`. */
  static fileDigest(text: string): string {
    return digest(text);
  }

  private async editNow(change: (draft: Draft) => void, origin: string, onConflict: OnConflict): Promise<Snapshot> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.syncWithDisk();
      const doc = parseDocument(current.text);
      change({ doc, config: current.config });
      const text = render(current.text, doc);
      if (text === undefined) return current;
      const loaded = parseConfig(text, this.label);
      if (await this.write(current.text, text)) return this.apply(loaded, origin);
      // The file changed under the edit: redo it on the new text, or leave the decision to the caller.
      this.log.debug({ origin, attempt }, 'config.yaml changed on disk during a write-back; nothing written over it');
      if (onConflict === 'refuse' || attempt >= MAX_REDO) throw changedUnderEdit(this.label);
    }
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
    if (secret && !isBcryptHash(secret) && !this.hashedSecrets.has(digest(secret))) void this.ensureSecretHashed();
    return next;
  }

  /**
   * Compare-and-swap of the file from `base` to `text`; false when the file no longer held `base`
   * (nothing written). An operator's in-place save caught in the window is put back, and counts as
   * a change under the edit too.
   */
  private async write(base: string, text: string): Promise<boolean> {
    const path = this.store.path;
    if (path === undefined) return true;
    const outcome = await swapIfUnchanged(path, base, text);
    if (outcome.kind === 'written') return true;
    if (outcome.kind === 'clobbered') {
      const restored = await swapIfUnchanged(path, text, outcome.lost);
      this.log.warn({ restored: restored.kind === 'written' }, 'config.yaml was saved by someone else during a write-back; their text was put back');
    }
    return false;
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
