/**
 * Request logs (`request-log: true`): one file per request under `logs/` next to config.yaml, named
 * `<time>-<request id>.log`, with the request, each upstream attempt and the response; a stream is
 * appended as it flows. Writes are asynchronous (a WriteStream per file); nothing here runs while
 * the feature is off. Secrets are masked: credential headers by name, and every configured key
 * wherever it appears. Past `logs-max-total-size-mb` the oldest files are removed.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { NATIVE_KEYS } from '../config/schema.js';
import type { Snapshot } from '../config/store.js';
import { maskSecret, type Logger } from './logger.js';

const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'x-goog-api-key', 'x-management-key', 'api-key', 'cookie', 'set-cookie']);
/** Request ids are UUIDs; anything else is refused before it gets near a path. */
const ID = /^[A-Za-z0-9-]{1,64}$/;

const secretsBySnapshot = new WeakMap<Snapshot, readonly string[]>();

/** Every secret the snapshot knows (client and upstream keys), longest first so none is half-replaced. */
function secretsOf(snap: Snapshot): readonly string[] {
  let list = secretsBySnapshot.get(snap);
  if (!list) {
    const all = new Set<string>(snap.config['api-keys']);
    for (const p of snap.config['openai-compatibility']) for (const e of p['api-key-entries']) if (e['api-key']) all.add(e['api-key']);
    for (const key of NATIVE_KEYS) for (const e of snap.config[key]) if (e['api-key']) all.add(e['api-key']);
    if (process.env.MANAGEMENT_PASSWORD) all.add(process.env.MANAGEMENT_PASSWORD);
    list = [...all].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
    secretsBySnapshot.set(snap, list);
  }
  return list;
}

function maskText(text: string, secrets: readonly string[]): string {
  for (const s of secrets) if (text.includes(s)) text = text.replaceAll(s, maskSecret(s));
  return text;
}

/** `?key=` carries a client key (Gemini clients may send it so): masked like the key headers. */
const maskedUrl = (url: string): string => (url.includes('key=') ? url.replace(/([?&]key=)([^&#]*)/g, (_, name: string, key: string) => name + maskSecret(key)) : url);

function headerLines(headers: IncomingHttpHeaders | OutgoingHttpHeaders): string {
  let out = '';
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      let shown = String(v);
      if (SECRET_HEADERS.has(name.toLowerCase())) {
        const scheme = /^(bearer|basic)\s+/i.exec(shown);
        shown = scheme ? scheme[0] + maskSecret(shown.slice(scheme[0].length)) : maskSecret(shown);
      }
      out += `${name}: ${shown}\n`;
    }
  }
  return out;
}

interface FileEntry {
  readonly name: string;
  readonly size: number;
}

/** The logs directory: creates files, enforces the size cap, finds a request's file. */
export class RequestLogs {
  private files: FileEntry[] = [];
  private total = 0;
  private ready: Promise<void> | undefined;
  private isReady = false;

  constructor(
    readonly dir: string,
    private maxBytes: number,
    private readonly log: Logger,
  ) {}

  setMaxBytes(maxBytes: number): void {
    this.maxBytes = maxBytes;
  }

  /** Creates the directory and counts what is already in it (once). */
  prepare(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.dir, { recursive: true });
      const names = (await readdir(this.dir)).filter((n) => n.endsWith('.log')).sort();
      for (const name of names) {
        try {
          const { size } = await stat(join(this.dir, name));
          this.files.push({ name, size });
          this.total += size;
        } catch {
          /* removed meanwhile */
        }
      }
      this.isReady = true;
      await this.trim();
    })().catch((err: unknown) => {
      this.log.error({ err, dir: this.dir }, 'request log: cannot use the logs directory');
    });
    return this.ready;
  }

  /** Starts the file of one request. */
  open(requestId: string, snap: Snapshot): RequestLog {
    const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${requestId}.log`;
    const entry = new RequestLog(this, name, secretsOf(snap));
    if (this.isReady) entry.attach(createWriteStream(join(this.dir, name)));
    else void this.prepare().then(() => entry.attach(createWriteStream(join(this.dir, name))));
    return entry;
  }

  /** A finished file joins the accounting; the oldest go while the total is over the cap. */
  finished(name: string, size: number): void {
    this.files.push({ name, size });
    this.total += size;
    void this.trim();
  }

  private async trim(): Promise<void> {
    if (this.maxBytes <= 0) return;
    while (this.total > this.maxBytes && this.files.length > 0) {
      const oldest = this.files.shift()!;
      this.total -= oldest.size;
      await unlink(join(this.dir, oldest.name)).catch(() => undefined);
    }
  }

  /** The text of a request's log, or undefined. */
  async read(requestId: string): Promise<string | undefined> {
    if (!ID.test(requestId)) return undefined;
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return undefined;
    }
    const name = names.find((n) => n.endsWith(`-${requestId}.log`));
    return name === undefined ? undefined : readFile(join(this.dir, name), 'utf8').catch(() => undefined);
  }
}

/** One request's file. Text is queued until the file is open, then written as it comes. */
export class RequestLog {
  private stream: WriteStream | undefined;
  private pending: string[] = [];
  private bytes = 0;
  private ended = false;

  constructor(
    private readonly logs: RequestLogs,
    private readonly name: string,
    private readonly secrets: readonly string[],
  ) {}

  attach(stream: WriteStream): void {
    this.stream = stream;
    stream.on('error', () => undefined); // a full disk must not take the request down
    for (const text of this.pending) stream.write(text);
    this.pending = [];
    if (this.ended) this.close();
  }

  private write(text: string): void {
    if (this.ended) return;
    const masked = maskText(text, this.secrets);
    this.bytes += Buffer.byteLength(masked);
    if (this.stream) this.stream.write(masked);
    else this.pending.push(masked);
  }

  request(requestId: string, method: string, url: string, headers: IncomingHttpHeaders): void {
    this.write(`=== request ${requestId} at ${new Date().toISOString()}\n${method} ${maskedUrl(url)}\n${headerLines(headers)}\n`);
  }

  requestBody(raw: string): void {
    this.write(`${raw}\n\n`);
  }

  attempt(provider: string, model: string, credential: number, key: string | undefined, outcome: number | string, ms: number): void {
    this.write(`=== attempt: provider=${provider} model=${model} credential=${credential} key=${maskSecret(key)} -> ${outcome} in ${ms.toFixed(1)} ms\n\n`);
  }

  head(status: number, headers: OutgoingHttpHeaders): void {
    this.write(`=== response ${status}\n${headerLines(headers)}\n`);
  }

  body(chunk: unknown): void {
    if (typeof chunk === 'string') this.write(chunk);
    else if (chunk instanceof Uint8Array) this.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8'));
  }

  end(summary: string): void {
    if (this.ended) return;
    this.write(`\n=== end: ${summary}\n`);
    this.ended = true;
    if (this.stream) this.close();
  }

  private close(): void {
    const stream = this.stream!;
    stream.end(() => this.logs.finished(this.name, this.bytes));
  }
}
