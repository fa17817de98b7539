import type { LedgerRun, RunState } from '../shared/activity-calls.js';
import { withTransaction, type Queryable } from '../shared/db.js';
import { extendTemporaryRevocation } from '../validator/revocation-list.js';
import { resolveDeps, type ResponderDeps } from './common.js';
import { DEFAULT_CONTAINMENT_HOLD_SECONDS } from './containment.js';

export interface KeepHeldOptions extends ResponderDeps {
  /** How far past now a kept entry is moved. Default: the containment hold, 7 days. */
  holdSeconds?: number;
  /** Entries ending within this are kept (or already ended and not yet purged). Default 3 days. */
  renewWithinSeconds?: number;
  policyVersion: string;
}

export interface KeepHeldReport {
  /** Entries moved later: a holding run was open, or its state could not be read (fail closed). */
  kept: number;
  /** Holds of closed runs, dropped: an entry none of whose runs is open lapses as it would have. */
  released: number;
}

/**
 * Keeps a key's temporary containment in force while the revocation run that holds it is open: the
 * run waits for sign-off with no end, and an entry that lapsed would let tokens forged with the
 * suspect key validate again. An entry is moved later, audited and announced to validators when any
 * of its runs is open or cannot be read; the holds of closed runs are dropped. Only kid entries: a
 * token's or subject's entry ends once the tokens it matches can no longer be valid anyway.
 */
export async function keepHeldContainments(db: Queryable, stateOf: (run: LedgerRun) => Promise<RunState>, o: KeepHeldOptions): Promise<KeepHeldReport> {
  const { appendAudit, clock } = resolveDeps(o);
  const now = clock.now();
  const holdMs = (o.holdSeconds ?? DEFAULT_CONTAINMENT_HOLD_SECONDS) * 1000;
  const within = new Date(now.getTime() + (o.renewWithinSeconds ?? 3 * 24 * 3600) * 1000);
  const { rows } = await db.query<{ id: string; kind: string; value: string; workflow_id: string; run_id: string }>(
    `SELECT r.id::text AS id, r.kind, r.value, h.workflow_id, h.run_id
       FROM revocations r JOIN containment_holds h ON h.revocation_id = r.id
      WHERE r.kind = 'kid' AND r.temporary AND r.expires_at < $1
      ORDER BY r.id, h.workflow_id, h.run_id`,
    [within],
  );
  const report: KeepHeldReport = { kept: 0, released: 0 };
  const byEntry = new Map<string, typeof rows>();
  for (const r of rows) byEntry.set(r.id, [...(byEntry.get(r.id) ?? []), r]);
  for (const [id, holds] of byEntry) {
    const states = await Promise.all(holds.map(async (h) => ({ h, state: await stateOf({ workflowId: h.workflow_id, runId: h.run_id }) })));
    const closed = states.filter((s) => s.state === 'closed');
    for (const { h } of closed) {
      await db.query(`DELETE FROM containment_holds WHERE revocation_id = $1 AND workflow_id = $2 AND run_id = $3`, [id, h.workflow_id, h.run_id]);
      report.released++;
    }
    const holding = states.filter((s) => s.state !== 'closed');
    if (holding.length === 0) continue;
    const target = new Date(now.getTime() + holdMs);
    const kept = await withTransaction(db, async (tx) => {
      const until = await extendTemporaryRevocation(tx, id, target);
      if (!until) return false;
      await appendAudit(tx, {
        actor: { role: 'RevocationResponder' },
        action: 'revocation.containment_kept',
        subject: { [holds[0]!.kind]: holds[0]!.value },
        policyVersion: o.policyVersion,
        outcome: 'ok',
        details: { revocationId: id, expiresAt: until.toISOString(), heldBy: holding.map((s) => ({ workflowId: s.h.workflow_id, runId: s.h.run_id, state: s.state })) },
      });
      return true;
    });
    if (kept) report.kept++;
  }
  return report;
}
