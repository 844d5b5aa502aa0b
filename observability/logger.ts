// The process's one logger: structured JSON lines on stdout (pino).
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** `destination`: where the lines go instead of stdout (a test reads them back). */
export function createLogger(component: string, destination?: DestinationStream): Logger {
  const options = { level: process.env['LOG_LEVEL'] ?? 'info', base: { component }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination === undefined ? pino(options) : pino(options, destination);
}
