/**
 * Hot reload of config.yaml. The DIRECTORY is watched, not the file: editors (and our own
 * write-back) replace the file by renaming a new one over it, after which a watch on the old
 * file's inode goes silent. Events are filtered by file name and debounced (a save is several
 * events); the editor then re-reads the file and reloads only if its content differs from what
 * is running, so our own writes do not reload a second time.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../observe/logger.js';
import type { ConfigEditor } from './persist.js';

export interface WatchOptions {
  readonly path: string;
  readonly editor: ConfigEditor;
  readonly log: Logger;
  /** Quiet time after the last event before the file is read (default 150 ms). */
  readonly debounceMs?: number;
}

export interface ConfigWatcher {
  close(): void;
}

export function watchConfig(options: WatchOptions): ConfigWatcher {
  const { path, editor, log, debounceMs = 150 } = options;
  const name = basename(path);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const reload = () => {
    timer = undefined;
    if (closed) return;
    editor.reload().catch((err: unknown) => log.error({ err, path }, 'config reload failed'));
  };

  let watcher: FSWatcher;
  try {
    // persistent: false: watching alone must not keep the process alive after close().
    watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
      // Some platforms do not report the name; then any change in the directory counts.
      if (closed || (file !== null && file.toString() !== name)) return;
      clearTimeout(timer);
      timer = setTimeout(reload, debounceMs);
    });
  } catch (err) {
    log.warn({ err: (err as Error).message, path }, 'cannot watch the config directory; hot reload is off');
    return { close() {} };
  }
  watcher.on('error', (err) => log.warn({ err: err.message, path }, 'config watcher error; hot reload may stop'));

  return {
    close() {
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}
