// Status writes, for both reconcilers: JSON merge patch on the status
// subresource, only when the status differs from what is stored and from
// our own write still on its way back, and only while this replica leads.
import { isDeepStrictEqual } from 'node:util';
import { GROUP, VERSION } from '../../api/v1alpha1/group.ts';
import { KubeApiError } from '../../kube/errors.ts';
import { MERGE_PATCH, type KubeRequester } from '../../kube/rest.ts';
import type { PendingWrites } from '../cache/pending-writes.ts';
import { mustLead } from '../machinery/leader-election.ts';

export interface WriterDeps {
  api: KubeRequester;
  /** Checked before every write. */
  isLeader: () => boolean;
  now: () => number;
}

/**
 * Writes an object's status unless it is what is stored, or what we wrote
 * and the watch has not brought back yet. An object deleted meanwhile is not
 * an error: its deletion queues the work again.
 */
export async function writeStatus<T>(
  deps: WriterDeps,
  target: { kind: { kind: string; plural: string }; name: string; pending: PendingWrites<T> },
  status: T,
  stored: T | undefined,
): Promise<void> {
  const now = deps.now();
  if (isDeepStrictEqual(stored, status) || isDeepStrictEqual(target.pending.get(target.name, now), status)) return;
  mustLead(deps);
  // Pending before the request: the watch can bring the write back before the request's own answer arrives.
  target.pending.wrote(target.name, status, now);
  try {
    await deps.api.request('PATCH', `/apis/${GROUP}/${VERSION}/${target.kind.plural}/${target.name}/status`, {
      what: `patch ${target.kind.kind} ${target.name} status`,
      contentType: MERGE_PATCH,
      body: { status },
    });
  } catch (err) {
    target.pending.forget(target.name);
    if (!(err instanceof KubeApiError && err.reason === 'NotFound')) throw err;
  }
}
