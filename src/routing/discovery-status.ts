/** What model discovery knows about one provider (kept in the config snapshot). */
export interface DiscoveryStatus {
  /** The last list GET <base-url>/models returned; undefined until one succeeded. */
  readonly models?: readonly string[];
  /** Unix ms of that success. */
  readonly updatedAt?: number;
  /** Unix ms of the last attempt, successful or not. */
  readonly attemptedAt: number;
  /** Why the last attempt failed; unset after a success. */
  readonly error?: string;
}
