// The pod condition an audit with flagging.podCondition keeps on each pod
// (judging/notices.ts says what it says). Only with that opt-in: it needs
// write access to every pod's status.
import { POD_CONDITION } from '../../api/v1alpha1/group.ts';
import { STRATEGIC_MERGE_PATCH, type KubeRequester } from '../../kube/rest.ts';
import type { podConditionFor } from '../judging/notices.ts';

/** Sets the audit's condition on a pod (only with flagging.podCondition: it needs write access to pods/status). */
export async function writePodCondition(
  rest: KubeRequester,
  pod: { namespace: string; name: string },
  wanted: ReturnType<typeof podConditionFor>,
  now: number,
): Promise<void> {
  const condition = { type: POD_CONDITION, ...wanted, lastTransitionTime: new Date(now).toISOString() };
  await rest.request('PATCH', `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/status`, {
    what: `patch Pod ${pod.namespace}/${pod.name} status`,
    contentType: STRATEGIC_MERGE_PATCH,
    body: { status: { conditions: [condition] } },
  });
}
