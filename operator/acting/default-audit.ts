// The default RuntimeClassAudit (the chart's `cluster`), created by the
// leader when it does not exist, and never touched after that: it is the
// user's to edit or delete, and outlives the chart. The chart cannot ship it
// itself: Helm maps every manifest of a release to a known kind before it
// creates any, so a custom resource cannot come in the same release as its
// CRD (and a hook would be re-created, losing its status, on every upgrade).
import { API_VERSION, GROUP, VERSION } from '../../api/v1alpha1/group.ts';
import { RUNTIME_CLASS_AUDIT } from '../../api/v1alpha1/runtime-class-audit.ts';
import { KubeApiError } from '../../kube/errors.ts';
import type { KubeRest } from '../../kube/rest.ts';
import type { Logger } from '../../observability/logger.ts';

/**
 * What the usual names of isolating handlers promise, checked against the
 * host's evidence: Kata's handlers (one per hypervisor) a VM, gVisor's its
 * own kernel. A handler of another name is judged by its name alone until
 * the audit's owner adds it.
 */
const DEFAULT_EXPECTED_ISOLATION = {
  kata: 'vm',
  'kata-qemu': 'vm',
  'kata-clh': 'vm',
  'kata-fc': 'vm',
  'kata-dragonball': 'vm',
  gvisor: 'gvisor',
  runsc: 'gvisor',
} as const;

/** The audit as created: every pod that names a RuntimeClass, and the isolation the usual isolating handlers promise. */
export function defaultAudit(name: string): object {
  return {
    apiVersion: API_VERSION,
    kind: RUNTIME_CLASS_AUDIT.kind,
    metadata: { name, labels: { 'app.kubernetes.io/created-by': 'runtimeclass-audit-operator' } },
    spec: { expectedIsolation: DEFAULT_EXPECTED_ISOLATION },
  };
}

/** Creates audit `name` unless it exists. Returns whether it was created. */
export async function ensureAudit(rest: KubeRest, name: string): Promise<boolean> {
  try {
    await rest.request('POST', `/apis/${GROUP}/${VERSION}/${RUNTIME_CLASS_AUDIT.plural}`, {
      body: defaultAudit(name),
      what: `create ${RUNTIME_CLASS_AUDIT.kind} ${name}`,
    });
    return true;
  } catch (err) {
    if (err instanceof KubeApiError && err.reason === 'AlreadyExists') return false;
    throw err;
  }
}

/** ensureAudit, tried again every `retryMs` until it succeeds or `stopped()` says to give up. */
export async function ensureAuditUntilDone(rest: KubeRest, name: string, opts: { retryMs: number; log: Logger; stopped: () => boolean }): Promise<void> {
  while (!opts.stopped()) {
    try {
      const created = await ensureAudit(rest, name);
      opts.log.info({ audit: name, created }, created ? 'created the default audit' : 'the default audit exists');
      return;
    } catch (err) {
      opts.log.warn({ audit: name, err: String(err), retryInMs: opts.retryMs }, 'cannot create the default audit');
      await new Promise((resolve) => setTimeout(resolve, opts.retryMs));
    }
  }
}
