import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';
import { createLogger, type Logger } from '../infra/log/logger.js';

let installed = false;

const PINO_LEVEL = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const satisfies Record<LogLevel, string>;

/**
 * The SDK's logger, writing through keyturn's at the same levels: its entries are redacted like
 * every other log line, and an error in them (the SDK logs every failed activity's) is reduced to
 * its type, code, message and stack, never its other properties (KeyturnError details, pg's
 * `detail`). The SDK's default logger printed them all to stderr with util.inspect.
 */
export function temporalLogger(log: Logger, level: LogLevel = 'WARN'): DefaultLogger {
  return new DefaultLogger(level, ({ level: l, message, meta }: LogEntry) => log[PINO_LEVEL[l]](meta ?? {}, message));
}

/**
 * Installs the Temporal runtime once per process: SDK logs at WARN and above through keyturn's
 * logger, and no signal handlers of its own, since keyturn's processes shut their parts down in
 * order themselves.
 */
export function installTemporalRuntime(level: LogLevel = 'WARN'): void {
  if (installed) return;
  Runtime.install({
    logger: temporalLogger(createLogger({ name: 'keyturn-temporal' }), level),
    // The native core's lines too (failed workflow tasks, nondeterminism…): through the same logger, not straight to stderr.
    telemetryOptions: { logging: { filter: { core: level, other: 'ERROR' }, forward: {} } },
    shutdownSignals: [],
  });
  installed = true;
}

/** Writes out the Temporal log lines still buffered (forwarded lines wait up to 100 ms): call before the process exits. */
export function flushTemporalLogs(): void {
  if (installed) Runtime.instance().flushLogs();
}
