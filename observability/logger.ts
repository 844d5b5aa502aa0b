// The process's one logger: structured JSON lines on stdout (pino).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(component: string, level = process.env['LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime });
}
