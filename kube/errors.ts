// The one place that reads the API server's errors: an HTTP status and a
// Status body, or a request that never got an answer. Everything else in
// this project sees these typed errors instead, and never parses HTTP bodies.

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

/** Turns anything a request threw (a refused connection, a deadline, a broken stream) into a KubeApiError. */
export function toKubeApiError(err: unknown, what: string): KubeApiError {
  if (err instanceof KubeApiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new KubeApiError('Transport', `${what}: ${message}`, undefined, { cause: err });
}
