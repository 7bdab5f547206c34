/** The long-lived services a request uses besides its snapshot. */
import type { ConfigStore } from './config/store.js';
import type { Logger } from './observe/logger.js';
import type { Observability } from './observe/observability.js';
import type { RecentRequests } from './observe/recent-requests.js';
import type { Balancer } from './routing/balancer.js';
import type { Dispatchers } from './upstream/dispatchers.js';
import type { UsageShare } from './state/usage-share.js';

export interface Runtime {
  readonly store: ConfigStore;
  readonly balancer: Balancer;
  readonly dispatchers: Dispatchers;
  readonly log: Logger;
  /** Metrics, usage statistics, request logs, access log. */
  readonly observe: Observability;
  /** Per-credential outcomes for the Management Center's key health (management-panel.ts). */
  readonly recent: RecentRequests;
  /** Cluster-wide usage statistics (set when instances share Redis). */
  readonly usageShare?: UsageShare;
}
