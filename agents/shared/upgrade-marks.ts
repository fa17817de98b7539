import { CALL_ID_PATCH } from '../../workflows/call-ids.js';
import type { Queryable } from './db.js';

/**
 * When the first worker checking call ids started (upgrade_marks), or undefined before one did:
 * a plain activity id scheduled after it is not keyturn's (workers/call-id-check.ts).
 */
export async function readCallIdUpgradeMark(db: Queryable): Promise<Date | undefined> {
  const { rows } = await db.query<{ at: Date }>('SELECT at FROM upgrade_marks WHERE name = $1', [CALL_ID_PATCH]);
  return rows[0]?.at;
}

/** Records, once, that a worker checking call ids started: the first such worker's start is the mark. */
export async function markCallIdUpgrade(db: Queryable): Promise<void> {
  await db.query('INSERT INTO upgrade_marks (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [CALL_ID_PATCH]);
}
