import type { AuditCheckpoint, CheckpointerOptions } from '../agents/auditor/checkpoint.js';
import { CHECKPOINT_LOG_MESSAGE, checkpointLogFields } from '../agents/auditor/witness.js';
import { isKeyturnError } from '../config/errors.js';
import { PublicText, type Logger } from '../infra/log/logger.js';

/**
 * Logs each signed audit checkpoint (a copy outside the database that `keyturn audit verify
 * --witness <log>` checks the log against) and each one that could not be signed.
 */
export function loggedCheckpoints(log: Logger): CheckpointerOptions {
  return {
    onCheckpoint: (cp) => logCheckpoint(log, cp),
    onError: (e) => log.error({ code: isKeyturnError(e) ? e.code : 'AUDIT_CHECKPOINT_FAILED', err: (e as Error).message }, 'audit checkpoint not signed'),
  };
}

/** One signed checkpoint, its JWS as it is: public, and what the witness check verifies. */
export function logCheckpoint(log: Logger, cp: AuditCheckpoint): void {
  const fields = checkpointLogFields(cp);
  log.info({ ...fields, jws: new PublicText(fields.jws) }, CHECKPOINT_LOG_MESSAGE);
}
