import type { CheckpointRow } from './chain-walk.js';
import type { AuditCheckpoint } from './checkpoint.js';

/** The message the worker logs with each checkpoint it signs (workers/main.ts). */
export const CHECKPOINT_LOG_MESSAGE = 'audit checkpoint signed';

/** What the worker logs with {@link CHECKPOINT_LOG_MESSAGE}: the signed checkpoint, nothing secret. */
export function checkpointLogFields(cp: AuditCheckpoint): { seq: number; headHash: string; at: string; jws: string } {
  return { seq: cp.seq, headHash: cp.headHash, at: cp.at, jws: cp.jws };
}

export interface WitnessLog {
  checkpoints: CheckpointRow[];
  /** Lines whose message is the checkpoint's but that cannot be read as one (a field missing or wrong). */
  unreadable: number[];
  /** Lines that mention the message but are not JSON (another logger's copy, or text inside another line): skipped. */
  mentions: number[];
}

export function emptyWitnessLog(): WitnessLog {
  return { checkpoints: [], unreadable: [], mentions: [] };
}

/**
 * The signed checkpoints a worker's JSON log holds: copies kept outside the database, so that
 * deleting the newest entries together with their checkpoints still shows. Other lines are skipped;
 * each copy is checked by its own signature, not by where it was found.
 */
export function parseWitnessLog(text: string, source: string): WitnessLog {
  const log = emptyWitnessLog();
  text.split('\n').forEach((line, i) => readWitnessLine(line, i + 1, source, log));
  return log;
}

/** Adds line `lineNo` of `source` to `log` (for a caller that streams a large file line by line). */
export function readWitnessLine(line: string, lineNo: number, source: string, log: WitnessLog): void {
  if (!line.includes(CHECKPOINT_LOG_MESSAGE)) return;
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    log.mentions.push(lineNo);
    return;
  }
  if (typeof o !== 'object' || o === null || (o as { msg?: unknown }).msg !== CHECKPOINT_LOG_MESSAGE) return;
  const row = checkpointOf(o as Record<string, unknown>, `${source}:${lineNo}`);
  if (row) log.checkpoints.push(row);
  else log.unreadable.push(lineNo);
}

function checkpointOf(o: Record<string, unknown>, witness: string): CheckpointRow | undefined {
  const { seq, headHash, at, jws } = o;
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) return undefined;
  if (typeof headHash !== 'string' || typeof at !== 'string' || typeof jws !== 'string') return undefined;
  return { id: witness, seq: String(seq), head_hash: headHash, at, jws, witness };
}
