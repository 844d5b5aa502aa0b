// The one place that reads the API server's errors. client-node throws
// ApiException with an HTTP code and a raw body; everything else in this
// project sees these typed errors instead, and never parses HTTP bodies.
import { ApiException } from '@kubernetes/client-node';

export type ApiErrorReason =
  'NotFound' | 'Conflict' | 'AlreadyExists' | 'Gone' | 'Forbidden' | 'Unauthorized' | 'Invalid' | 'TooManyRequests' | 'ServerError' | 'Transport';

export class KubeApiError extends Error {
  readonly reason: ApiErrorReason;
  readonly code: number | undefined;

  constructor(reason: ApiErrorReason, message: string, code?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KubeApiError';
    this.reason = reason;
    this.code = code;
  }
}

interface StatusBody {
  reason?: string;
  message?: string;
}

function statusBody(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return { message: body };
    }
  }
  return typeof body === 'object' && body !== null ? body : {};
}

function reasonFor(code: number, status: StatusBody): ApiErrorReason {
  if (code === 409) return status.reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict';
  const byCode: Record<number, ApiErrorReason> = {
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'NotFound',
    410: 'Gone',
    422: 'Invalid',
    429: 'TooManyRequests',
  };
  return byCode[code] ?? (code >= 500 ? 'ServerError' : 'Invalid');
}

/** The error for an HTTP answer with status `code` and body `body` (a Status object, JSON text, or text). */
export function fromHttpStatus(code: number, body: unknown, what: string): KubeApiError {
  const status = statusBody(body);
  const reason = reasonFor(code, status);
  return new KubeApiError(reason, `${what}: ${reason} (HTTP ${String(code)}): ${status.message ?? ''}`.trim(), code);
}

/** Turns anything a client-node call threw into a KubeApiError. */
export function toKubeApiError(err: unknown, what: string): KubeApiError {
  if (err instanceof KubeApiError) return err;
  if (err instanceof ApiException) {
    const translated = fromHttpStatus((err as ApiException<unknown>).code, (err as ApiException<unknown>).body, what);
    return new KubeApiError(translated.reason, translated.message, translated.code, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new KubeApiError('Transport', `${what}: ${message}`, undefined, { cause: err });
}
