// The one place that reads the CRI runtime's errors (grpc-js status errors):
// the rest of the agent asks what an error means, and never looks at codes.
import * as grpc from '@grpc/grpc-js';

/** The runtime says the sandbox does not exist (removed between a list and a status call). */
export function isSandboxGone(err: unknown): boolean {
  return (err as Partial<grpc.ServiceError> | undefined)?.code === grpc.status.NOT_FOUND;
}

/** What a failed CRI call says, for the report's lastError and the logs: grpc-js's "<code> <NAME>: <details>", or the error's message. */
export function describeCriError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
