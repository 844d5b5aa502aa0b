// Which reconciles a change in the cache calls for: the nodes whose verdicts
// it can change, and the audits whose sums it can change. Pure; the manager
// queues what this returns.
import { isDeepStrictEqual } from 'node:util';
import type { CacheChange, ClusterCache } from '../cache/cluster-cache.ts';
import type { AuditRecord, ReportRecord } from '../cache/records.ts';

export interface Triggered {
  /** Nodes to judge again. */
  nodes: Set<string>;
  /** Every node: a policy changed, or a whole audit came or went. */
  allNodes: boolean;
  /** An audit to sum up now (its own spec changed). */
  audit?: string;
  /**
   * Every audit, soon: an audit's status is a sum over the whole cache, so
   * nearly any change can move it. Debounced by the manager: a cold start
   * sums each audit up a few times a second, not once per change.
   */
  allAudits: boolean;
}

export interface OwnWrites {
  /** This status is our own write coming back through the watch. */
  report: (report: ReportRecord) => boolean;
  audit: (audit: AuditRecord) => boolean;
}

const sameApartFromStatus = <T extends { status?: unknown }>(old: T | undefined, now: T): boolean =>
  old !== undefined && isDeepStrictEqual({ ...old, status: undefined }, { ...now, status: undefined });

const nothing = (): Triggered => ({ nodes: new Set(), allNodes: false, allAudits: false });

export function triggeredBy(change: CacheChange, cache: ClusterCache, own: OwnWrites): Triggered {
  if (change.resource === 'audits') return auditTriggers(change.key, change.old, change.now, own);
  return { ...nothing(), nodes: nodesTriggered(change, cache, own), allAudits: true };
}

/** The nodes whose verdicts a change (of anything but an audit) can move. */
function nodesTriggered(change: Exclude<CacheChange, { resource: 'audits' }>, cache: ClusterCache, own: OwnWrites): Set<string> {
  switch (change.resource) {
    case 'runtimeclasses':
      return cache.nodesWithPods((p) => p.runtimeClassName === change.key);
    case 'namespaces':
      return cache.nodesWithPods((p) => p.namespace === change.key);
    case 'nodes':
      return new Set([change.key]);
    case 'pods':
      return new Set([change.old?.nodeName, change.now?.nodeName].filter((n) => n !== undefined));
    case 'reports':
      return new Set(ownEcho(change.old, change.now, own) ? [] : [change.key]);
  }
}

/** Our own status coming back: it changes no verdict (it does change the audits' sums). */
const ownEcho = (old: ReportRecord | undefined, now: ReportRecord | undefined, own: OwnWrites): boolean =>
  now !== undefined && own.report(now) && sameApartFromStatus(old, now);

function auditTriggers(name: string, old: AuditRecord | undefined, now: AuditRecord | undefined, own: OwnWrites): Triggered {
  const t = nothing();
  // Gone: every report status drops its entry; the audit's own reconcile forgets what was kept for it.
  if (now === undefined) return { ...t, allNodes: true, audit: name };
  const onlyStatus = sameApartFromStatus(old, now);
  if (onlyStatus && own.audit(now)) return t;
  // A new or changed policy changes every node's verdicts.
  return { ...t, audit: name, allNodes: !onlyStatus };
}
