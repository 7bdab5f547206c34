/**
 * /v0/management/config.yaml: the file itself, secrets masked (in clear with ?reveal=true), and
 * PUT to replace it. GET answers an ETag naming the file's version; a PUT with If-Match replaces
 * only that version (412 otherwise), and any PUT is refused (409) if the file changes on disk while
 * it is being saved. A masked download put back unchanged leaves the file as it is, byte for byte.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { rewriteYamlSecrets, SecretBook } from '../config/mask.js';
import { ConfigConflict, ConfigEditor } from '../config/persist.js';
import { asManagementError, ManagementError, OK, type ManagementRequest, type Reply, type Routes } from './management-common.js';

const YAML_TYPE = 'application/yaml; charset=utf-8';

/** The file as it is on disk (it may hold an edit not yet reloaded), else what is running. */
async function fileText(req: ManagementRequest): Promise<string> {
  const path = req.editor.store.path;
  const onDisk = path === undefined ? undefined : await readFile(path, 'utf8').catch(() => undefined);
  return onDisk ?? req.editor.store.current().text;
}

/** What a masked GET shows for `file`: text that is not YAML cannot be masked, so the running config stands in. */
function maskedView(req: ManagementRequest, file: string): string {
  const text = parseDocument(file).errors.length === 0 ? file : req.editor.store.current().text;
  return rewriteYamlSecrets(text, { mask: true });
}

const etagOf = (file: string) => `"${ConfigEditor.fileDigest(file)}"`;

/** The digest an If-Match names (`"abc"`, `W/"abc"`); undefined for none or `*`. */
function ifMatchDigest(header: string | undefined): string | undefined {
  const value = header?.trim();
  if (!value || value === '*') return undefined;
  return value.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

async function getConfigYaml(req: ManagementRequest): Promise<Reply> {
  const file = await fileText(req);
  req.ctx.headers.etag = etagOf(file);
  return { text: req.reveal ? file : maskedView(req, file), contentType: YAML_TYPE };
}

async function putConfigYaml(req: ManagementRequest): Promise<Reply> {
  const text = await req.text();
  if (text.trim() === '') throw new ManagementError(400, 'invalid YAML: the body is empty');
  const ifMatch = ifMatchDigest(req.ctx.req.headers['if-match']);
  const file = await fileText(req);
  let restored: string;
  let expected = ifMatch;
  if (text === maskedView(req, file)) {
    // The masked download sent back as it was: the file as it is (secrets and their quoting), if
    // it is still that file when written.
    restored = file;
    expected ??= ConfigEditor.fileDigest(file);
  } else {
    try {
      restored = rewriteYamlSecrets(text, { restore: new SecretBook(req.editor.store.current().config), styleOf: file });
    } catch (err) {
      throw asManagementError(err, 422);
    }
  }
  try {
    await req.editor.replace(restored, 'management', expected);
  } catch (err) {
    if (err instanceof ConfigConflict && err.precondition) throw new ManagementError(ifMatch === undefined ? 409 : 412, err.message);
    throw asManagementError(err, 422);
  }
  return OK;
}

export const configFileRoutes: Routes = {
  '/config.yaml': { GET: getConfigYaml, PUT: putConfigYaml },
};
