// The reconcile contract (after controller-runtime): a request is only a key;
// the result says what the worker does next. The worker is the small switch.
import type { WorkQueue } from './work-queue.ts';

export type ReconcileResult =
  { kind: 'done' } | { kind: 'requeueAfter'; ms: number } | { kind: 'error'; error: unknown } | { kind: 'terminal'; error: unknown };

export type Reconciler = (key: string) => Promise<ReconcileResult>;

export const done: ReconcileResult = { kind: 'done' };

/** Takes keys off the queue until it shuts down; never throws. */
export async function runWorker(queue: WorkQueue, reconcile: Reconciler, onError: (key: string, error: unknown, terminal: boolean) => void): Promise<void> {
  for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
    const result = await reconcile(key).catch((error: unknown): ReconcileResult => ({ kind: 'error', error }));
    switch (result.kind) {
      case 'done':
        queue.forget(key);
        break;
      case 'requeueAfter':
        queue.forget(key);
        queue.addAfter(key, result.ms);
        break;
      case 'error':
        onError(key, result.error, false);
        queue.addRateLimited(key);
        break;
      case 'terminal':
        onError(key, result.error, true);
        queue.forget(key);
        break;
    }
    queue.done(key);
  }
}
