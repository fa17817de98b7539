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
  /** Lines that name a checkpoint but could not be read as one (not JSON, a field missing). */
  unreadable: number[];
}

/**
 * The signed checkpoints a worker's JSON log holds: copies kept outside the database, so that
 * deleting the newest entries together with their checkpoints still shows. Other lines are skipped;
 * each copy is checked by its own signature, not by where it was found.
 */
export function parseWitnessLog(text: string, source: string): WitnessLog {
  const checkpoints: CheckpointRow[] = [];
  const unreadable: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.includes(CHECKPOINT_LOG_MESSAGE)) return;
    const row = checkpointOf(line, `${source}:${i + 1}`);
    if (row) checkpoints.push(row);
    else unreadable.push(i + 1);
  });
  return { checkpoints, unreadable };
}

function checkpointOf(line: string, witness: string): CheckpointRow | undefined {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined;
  const { msg, seq, headHash, at, jws } = o as Record<string, unknown>;
  if (msg !== CHECKPOINT_LOG_MESSAGE || !Number.isSafeInteger(seq) || (seq as number) < 1) return undefined;
  if (typeof headHash !== 'string' || typeof at !== 'string' || typeof jws !== 'string') return undefined;
  return { id: witness, seq: String(seq), head_hash: headHash, at, jws, witness };
}
