/**
 * One configuration for the whole cluster. Every configuration this instance applies (management
 * edit, or its config.yaml edited on disk) is published with its text, its sha256 and a sequence
 * number Redis assigns; the other instances validate it, apply it and write it to their own
 * config.yaml through the ConfigEditor (the same serialised, compare-and-swap write-back as a
 * management edit). The sequence orders concurrent changes: an instance ignores any change older
 * than the newest it has applied or published, so all instances settle on the same text.
 * A change made while Redis was away is published when it returns; one published meanwhile by
 * another instance (the latest is kept under a key) is adopted if it is newer. At startup, an
 * instance adopts the cluster's latest change if it is newer than its own config.yaml (a new
 * instance started from an older file), and publishes its file if the file is newer (edited on
 * that host while it was stopped).
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { isBcryptHash } from '../config/management-secret.js';
import type { ConfigEditor } from '../config/persist.js';
import type { Logger } from '../observe/logger.js';
import { PREFIX, type RedisLink } from './redis-link.js';

const CHANNEL = 'config';
const LATEST = `${PREFIX}config`;
const SEQUENCE = `${PREFIX}config:seq`;
/** INCR the sequence, keep the message as the latest, publish it: one round trip, atomically. */
const PUBLISH_SCRIPT = `local n = redis.call('INCR', KEYS[1])
local msg = n .. '\\n' .. ARGV[1]
redis.call('SET', KEYS[2], msg)
redis.call('PUBLISH', KEYS[3], msg)
return n`;

interface ConfigMessage {
  readonly from: string;
  readonly hash: string;
  readonly text: string;
  /** Unix ms of the change. */
  readonly at: number;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export class ConfigSync {
  /** Newest sequence number applied or published here. */
  private seen = 0;
  /** Hash of the text last adopted from another instance (its swap is not published again). */
  private adopted: string | undefined;
  /** A change that could not be published (Redis away): published on reconnect. */
  private unpublished: string | undefined;
  private connectedBefore = false;

  constructor(
    private readonly link: RedisLink,
    private readonly editor: ConfigEditor,
    private readonly log: Logger,
  ) {
    editor.store.onSwap((next) => this.changed(next.text, next.config['remote-management']['secret-key']));
    link.subscribe(CHANNEL, (message) => void this.received(message));
    link.onReady(() => this.reconnected());
  }

  private changed(text: string, secret: string | undefined): void {
    const hash = sha256(text);
    if (hash === this.adopted) return;
    // A plaintext secret is about to be replaced by its hash: publish that version instead.
    if (secret && !isBcryptHash(secret)) return;
    this.unpublished = text;
    void this.publish(text, hash);
  }

  private async publish(text: string, hash: string): Promise<void> {
    if (!this.link.up()) return;
    const message: ConfigMessage = { from: this.link.instance, hash, text, at: Date.now() };
    try {
      const seq = (await this.link.client.eval(PUBLISH_SCRIPT, 3, SEQUENCE, LATEST, PREFIX + CHANNEL, JSON.stringify(message))) as number;
      this.seen = Math.max(this.seen, seq);
      if (this.unpublished === text) this.unpublished = undefined;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'config sync: could not publish the change; will retry when redis is back');
    }
  }

  private parse(raw: string): { seq: number; message: ConfigMessage } | undefined {
    const cut = raw.indexOf('\n');
    const seq = Number(raw.slice(0, cut));
    try {
      const message = JSON.parse(raw.slice(cut + 1)) as ConfigMessage;
      if (!Number.isInteger(seq) || typeof message.text !== 'string' || sha256(message.text) !== message.hash) return undefined;
      return { seq, message };
    } catch {
      return undefined;
    }
  }

  private async received(raw: string): Promise<void> {
    const parsed = this.parse(raw);
    if (!parsed) return this.log.warn('config sync: ignored a malformed config message');
    const { seq, message } = parsed;
    if (message.from === this.link.instance || seq <= this.seen) return;
    this.seen = seq;
    await this.adopt(message, 'cluster');
  }

  private async adopt(message: ConfigMessage, origin: string): Promise<void> {
    if (message.hash === sha256(this.editor.store.current().text)) return;
    this.adopted = message.hash;
    try {
      await this.editor.replace(message.text, origin);
    } catch (err) {
      this.log.error({ err: (err as Error).message, from: message.from }, 'config sync: change from another instance rejected; keeping the current configuration');
    }
  }

  /** Publishes what changed here while away, else adopts a newer change published meanwhile. */
  private async reconnected(): Promise<void> {
    if (!this.connectedBefore) {
      this.connectedBefore = true;
      return this.started();
    }
    if (this.unpublished !== undefined) {
      const text = this.unpublished;
      return this.publish(text, sha256(text));
    }
    const latest = await this.link.client.get(LATEST);
    const parsed = latest === null ? undefined : this.parse(latest);
    if (!parsed || parsed.seq <= this.seen) return;
    this.seen = parsed.seq;
    if (parsed.message.from !== this.link.instance) await this.adopt(parsed.message, 'cluster');
  }

  private async started(): Promise<void> {
    const latest = await this.link.client.get(LATEST);
    const parsed = latest === null ? undefined : this.parse(latest);
    const current = this.editor.store.current().text;
    if (parsed) this.seen = Math.max(this.seen, parsed.seq);
    if (parsed?.message.hash === sha256(current)) return;
    const path = this.editor.store.path;
    const fileTime = path === undefined ? 0 : await stat(path).then((s) => s.mtimeMs, () => 0);
    if (parsed && parsed.message.at > fileTime) return this.adopt(parsed.message, 'cluster');
    if (parsed) await this.publish(current, sha256(current));
  }
}
