/**
 * Reading config.yaml: YAML parse (keeping the Document, so edits can be written back with their
 * comments), schema validation, and error messages that name the key path and the line.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { configSchema, KNOWN_KEYS, type Config } from './schema.js';

/** A config file that cannot be used; `message` is meant for the operator, as is. */
export class ConfigError extends Error {
  constructor(
    message: string,
    /** 'yaml' when the text is not YAML at all, 'schema' when the values are wrong. */
    readonly kind: 'yaml' | 'schema' = 'schema',
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  readonly config: Config;
  /** The parsed document, for write-back that keeps comments. */
  readonly document: Document;
  /** Top-level keys of CLI Proxy API that cliproxy accepts but does not use. */
  readonly unusedKeys: readonly string[];
  readonly text: string;
}

/** `openai-compatibility[1].api-key-entries[0].proxy-url` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(root)';
}

function lineOf(document: Document, lines: LineCounter, path: readonly PropertyKey[]): number | undefined {
  // Walk up until a node exists: a missing key is reported at its parent.
  for (let depth = path.length; depth >= 0; depth--) {
    const node = document.getIn(path.slice(0, depth) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

function describeIssues(issues: readonly z.core.$ZodIssue[], document: Document, lines: LineCounter, source: string): string {
  return issues
    .slice(0, 10)
    .map((issue) => {
      const line = lineOf(document, lines, issue.path);
      const where = line ? `${source}:${line}: ` : `${source}: `;
      return `${where}${formatPath(issue.path)}: ${issue.message}`;
    })
    .join('\n');
}

/** Parses and validates config text; throws ConfigError naming the key path and line. */
export function parseConfig(text: string, source = 'config.yaml'): LoadedConfig {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (document.errors.length > 0) {
    const first = document.errors[0]!;
    const line = first.linePos?.[0]?.line;
    throw new ConfigError(`${source}${line ? `:${line}` : ''}: invalid YAML: ${first.message.split('\n')[0]}`, 'yaml');
  }
  const raw: unknown = document.toJS() ?? {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${source}: expected a mapping of keys (port, api-keys, openai-compatibility, ...)`);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(describeIssues(result.error.issues, document, lines, source));
  const unusedKeys = Object.keys(raw).filter((key) => !KNOWN_KEYS.has(key));
  return { config: result.data, document, unusedKeys, text };
}

/** Reads and validates a config file. */
export async function loadConfigFile(path: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`${path}: cannot read config file (${code ?? String(err)})`);
  }
  return parseConfig(text, path);
}
