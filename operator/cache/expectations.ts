// What the operator expects that the cluster does not say by itself: the
// handler each pod's RuntimeClass named when the pod was first seen, and our
// own status writes still on their way back through the watch.
import type { NodeSandboxReportStatus, PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import type { RuntimeClassAuditStatus } from '../../api/v1alpha1/runtime-class-audit.ts';
import type { ClusterCache } from './cluster-cache.ts';
import { PendingWrites } from './pending-writes.ts';
import type { PodRecord } from './records.ts';

/** The handler a stored verdict says its pod expected, when it was about the same RuntimeClass (an Unverified one holds it in lastVerified). */
function expectedIn(entry: PodVerdictEntry | undefined, runtimeClassName: string | undefined): string | undefined {
  if (entry === undefined || entry.runtimeClassName !== runtimeClassName) return undefined;
  return entry.expectedHandler ?? entry.lastVerified?.expectedHandler;
}

/** What an earlier leader captured for this pod, from its node's report status. */
function storedExpectation(cache: ClusterCache, pod: PodRecord): string | undefined {
  const status = pod.nodeName === undefined ? undefined : cache.reports.get(pod.nodeName)?.status;
  for (const audit of status?.audits ?? []) {
    const expected = expectedIn(
      audit.pods.find((p) => p.uid === pod.uid),
      pod.runtimeClassName,
    );
    if (expected !== undefined) return expected;
  }
  return undefined;
}

export class Expectations {
  /** Our report and audit status writes in flight. */
  readonly reportWrites = new PendingWrites<NodeSandboxReportStatus>();
  readonly auditWrites = new PendingWrites<RuntimeClassAuditStatus>();
  /** By pod uid: the captured handler, or null when the RuntimeClass did not exist then. */
  private readonly handlers = new Map<string, string | null>();

  /**
   * Follows the pods as the cache sees them: captures at first sight what
   * the pod's RuntimeClass (or an earlier leader's record) says, and forgets
   * a pod that is gone. Called for every pod change, before reconcile reads.
   */
  podChanged(cache: ClusterCache, uid: string, old: PodRecord | undefined, now: PodRecord | undefined): void {
    if (now === undefined) {
      this.handlers.delete(uid);
      return;
    }
    if (old !== undefined || now.runtimeClassName === undefined || this.handlers.has(uid)) return;
    this.handlers.set(uid, storedExpectation(cache, now) ?? cache.runtimeClass(now.runtimeClassName)?.handler ?? null);
  }

  /**
   * The handler the pod's RuntimeClass had when the pod was first seen with
   * that class existing. Captured once; a RuntimeClass re-created later with
   * another handler does not change it. Undefined for a pod without a class;
   * null while its class has never been seen.
   */
  handlerFor(cache: ClusterCache, pod: PodRecord): string | null | undefined {
    if (pod.runtimeClassName === undefined) return undefined;
    const captured = this.handlers.get(pod.uid);
    if (captured !== undefined && captured !== null) return captured;
    const handler = cache.runtimeClass(pod.runtimeClassName)?.handler ?? null;
    this.handlers.set(pod.uid, handler);
    return handler;
  }
}
