/**
 * Compare-and-swap for config.yaml: the new text is written to a temp file (same directory, so the
 * rename is atomic) and fsynced, and renamed over config.yaml only if the file there still holds
 * exactly the text the edit started from. The operator (an editor, a deploy script) may write the
 * file at any moment, in place or by renaming a new file over it; their text is never replaced by
 * one prepared from an older version.
 *
 * The check and the rename are two system calls; nothing in POSIX makes them one. So:
 * - everything slow (writing and fsyncing the temp file) happens before the check;
 * - the check reads the file through a handle and, right before the rename, confirms that the
 *   path still names that same inode (a rename by someone else since the read shows up here);
 * - after the rename the old inode is read again through the handle: an in-place write that hit
 *   it between the check and the rename is detected, and its text handed back to be restored.
 * What remains is a rename by someone else landing between the final inode check and our rename
 * (one libuv round trip, well under a millisecond): that one cannot be seen from here.
 */
import { randomBytes } from 'node:crypto';
import { access, chmod, constants, open, readFile, realpath, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type SwapOutcome =
  /** The new text is in place. */
  | { readonly kind: 'written' }
  /** The file no longer holds the base text (or is gone): nothing was written. */
  | { readonly kind: 'moved'; readonly found: string | undefined }
  /** The new text is in place, but an in-place write landed in the window and was replaced: `lost` is its text. */
  | { readonly kind: 'clobbered'; readonly lost: string };

/** Writes `text` to `path` if the file still holds `base`. */
export async function swapIfUnchanged(path: string, base: string, text: string): Promise<SwapOutcome> {
  // Through a symlink, replace the file it points to and keep the link.
  const target = await realpath(path).catch(() => path);
  const dir = dirname(target);
  const temp = await writeTemp(target, text);
  let renamed = false;
  try {
    let handle: FileHandle;
    try {
      handle = await open(target, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'moved', found: undefined };
      throw err;
    }
    try {
      const seen = await readAll(handle);
      if (seen !== base) return { kind: 'moved', found: seen };
      const [held, named] = await Promise.all([handle.stat(), stat(target).catch(() => undefined)]);
      if (named === undefined || named.ino !== held.ino || named.dev !== held.dev) {
        return { kind: 'moved', found: await readFile(target, 'utf8').catch(() => undefined) };
      }
      await rename(temp, target);
      renamed = true;
      const after = await settled(handle, seen);
      if (after !== seen) return { kind: 'clobbered', lost: after };
    } finally {
      await handle.close();
    }
  } finally {
    if (!renamed) await rm(temp, { force: true });
  }
  await syncDirectory(dir);
  return { kind: 'written' };
}

/** temp file next to `target`, with its permissions (it holds secrets and may be 0600), fsynced. */
async function writeTemp(target: string, text: string): Promise<string> {
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const mode = await stat(target).then((s) => s.mode & 0o777, () => 0o600);
  // A read-only file stays as it is (rename would replace it regardless of its mode).
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
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return temp;
}

/** The whole content behind a handle, from offset 0 (FileHandle.readFile reads from the current position). */
async function readAll(handle: FileHandle): Promise<string> {
  const chunks: Buffer[] = [];
  let position = 0;
  for (;;) {
    const buffer = Buffer.allocUnsafe(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) break;
    chunks.push(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The old inode's text once a writer that hit it has finished: an in-place save is a truncate
 * followed by writes, so a changed text is read again until two reads 25 ms apart agree (≤ 1 s).
 */
async function settled(handle: FileHandle, seen: string): Promise<string> {
  let last = await readAll(handle);
  if (last === seen) return last;
  for (let i = 0; i < 40; i++) {
    await sleep(25);
    const next = await readAll(handle);
    if (next === last) return next;
    last = next;
  }
  return last;
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
