/**
 * The current configuration snapshot. A snapshot is immutable: a request reads it once and keeps
 * it to the end, and a reload or a management edit swaps in a whole new one atomically.
 */
import { createHash } from 'node:crypto';
import type { Document } from 'yaml';
import { PayloadRules } from '../routing/payload.js';
import { buildRegistry, type Registry } from '../routing/registry.js';
import type { DiscoveryStatus } from '../routing/discovery-status.js';
import type { LoadedConfig } from './load.js';
import type { Config } from './schema.js';

export interface Snapshot {
  readonly config: Config;
  readonly registry: Registry;
  /** Model discovery per provider name: the last good list, when, and the last failure. */
  readonly discovery: ReadonlyMap<string, DiscoveryStatus>;
  /** Compiled payload rules; undefined when the config has none. */
  readonly payload: PayloadRules | undefined;
  /** sha256 of each client key, for timing-safe comparison. */
  readonly clientKeyDigests: readonly Buffer[];
  readonly bodyLimitBytes: number;
  readonly timeoutsMs: { readonly connect: number; readonly firstByte: number; readonly idle: number };
  /** The file text and document it came from (for write-back), if any. */
  readonly text: string;
  readonly document: Document | undefined;
  /** Increments with every swap. */
  readonly generation: number;
}

export const digestKey = (key: string): Buffer => createHash('sha256').update(key).digest();

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value) && !Buffer.isBuffer(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const NO_DISCOVERY: ReadonlyMap<string, DiscoveryStatus> = new Map();

export function buildSnapshot(
  loaded: Pick<LoadedConfig, 'config' | 'text'> & { document?: Document },
  generation: number,
  discovery: ReadonlyMap<string, DiscoveryStatus> = NO_DISCOVERY,
): Snapshot {
  const { config } = loaded;
  const t = config.timeouts;
  const discovered = new Map<string, readonly string[]>();
  for (const [name, status] of discovery) if (status.models) discovered.set(name, status.models);
  return {
    config: deepFreeze(config),
    registry: buildRegistry(config, Date.now(), discovered),
    discovery,
    payload: PayloadRules.compile(config.payload),
    clientKeyDigests: config['api-keys'].map(digestKey),
    bodyLimitBytes: Math.floor(config['body-limit-mb'] * 1024 * 1024),
    timeoutsMs: { connect: t.connect * 1000, firstByte: t['first-byte'] * 1000, idle: t.idle * 1000 },
    text: loaded.text,
    document: loaded.document,
    generation,
  };
}

type SwapListener = (next: Snapshot, previous: Snapshot) => void;

/** Holds the current snapshot and tells listeners (balancer, dispatchers) about swaps. */
export class ConfigStore {
  private snapshot: Snapshot;
  private readonly listeners: SwapListener[] = [];

  constructor(
    initial: Pick<LoadedConfig, 'config' | 'text'> & { document?: Document },
    /** The config.yaml this store persists to, if it was loaded from a file. */
    readonly path?: string,
  ) {
    this.snapshot = buildSnapshot(initial, 1);
  }

  current(): Snapshot {
    return this.snapshot;
  }

  onSwap(listener: SwapListener): void {
    this.listeners.push(listener);
  }

  /** Replaces the snapshot; requests in flight keep the one they started with. */
  swap(loaded: Pick<LoadedConfig, 'config' | 'text'> & { document?: Document }): Snapshot {
    const previous = this.snapshot;
    const next = buildSnapshot(loaded, previous.generation + 1, previous.discovery);
    this.snapshot = next;
    for (const listener of this.listeners) listener(next, previous);
    return next;
  }

  /** New discovery results: the same config, its model table rebuilt (listeners see `next.config === previous.config`). */
  setDiscovery(discovery: ReadonlyMap<string, DiscoveryStatus>): Snapshot {
    const previous = this.snapshot;
    const next = buildSnapshot(previous, previous.generation + 1, discovery);
    this.snapshot = next;
    for (const listener of this.listeners) listener(next, previous);
    return next;
  }
}
