// Structured logging: one pino logger per process; children carry service and request id.
import { pino, destination, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LogOptions {
  level: string;
  /** A file to append JSON lines to; standard error when absent. */
  file?: string;
}

export function createLogger(options: LogOptions): Logger {
  const stream: DestinationStream = options.file
    ? destination({ dest: options.file, mkdir: true, sync: false })
    : destination(2);
  return pino({ level: options.level, base: { pid: process.pid } }, stream);
}

/** A logger that drops everything, for tests and tools that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
