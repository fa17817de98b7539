import type { RunState } from '../shared/activity-calls.js';
import { withTransaction, type Queryable } from '../shared/db.js';
import { extendTemporaryRevocation, type RevocationKind } from '../validator/revocation-list.js';
import { lockTarget, resolveDeps, type ResponderDeps } from './common.js';

/**
 * How long a containment holds when nobody confirms or lifts it: long enough to outlast any
 * sign-off wait, short enough that a forgotten suspension ends by itself. A key's containment is
 * moved on while the run holding it is open (see keepHeldContainments).
 */
export const DEFAULT_CONTAINMENT_HOLD_SECONDS = 7 * 24 * 3600;

/**
 * The revocation run a containment belongs to. A hold is the workflow's, whatever its run: a run
 * reset to an earlier point goes on under the same workflow id and holds what the first run held.
 */
export interface ContainmentHolder {
  workflowId: string;
  runId: string;
}

/** Whether a workflow's current run is open, as Temporal says; 'unknown' when it cannot say (the hold then counts). */
export type HolderState = (workflowId: string) => Promise<RunState>;

/** A holder that still holds, and why. */
export type Holding = { workflowId: string; state: 'open' | 'unknown' };

/** Notes that `holder` holds the temporary entry (idempotent, in the containment's transaction): true when new. */
export async function recordHold(tx: Queryable, revocationId: string, holder: ContainmentHolder | undefined): Promise<boolean> {
  if (!holder) return false;
  const res = await tx.query(
    `INSERT INTO containment_holds (revocation_id, workflow_id, run_id) SELECT $1, $2, $3
      WHERE NOT EXISTS (SELECT 1 FROM containment_holds WHERE revocation_id = $1 AND workflow_id = $2)
     ON CONFLICT DO NOTHING`,
    [revocationId, holder.workflowId, holder.runId],
  );
  return res.rowCount === 1;
}

/**
 * The states of the workflows other than `self` that hold a target's temporary entry, asked before
 * the lift's transaction (Temporal may take seconds), all at once.
 */
export async function otherHolderStates(db: Queryable, target: { kind: RevocationKind; value: string; before: Date | undefined }, self: ContainmentHolder | undefined, stateOf: HolderState | undefined): Promise<Map<string, RunState>> {
  const { rows } = await db.query<{ workflow_id: string }>(
    `SELECT DISTINCT h.workflow_id FROM containment_holds h JOIN revocations r ON r.id = h.revocation_id
      WHERE r.kind = $1 AND r.value = $2 AND COALESCE(r.not_before, '-infinity'::timestamptz) = COALESCE($3::timestamptz, '-infinity'::timestamptz) AND r.temporary`,
    [target.kind, target.value, target.before ?? null],
  );
  const others = rows.map((r) => r.workflow_id).filter((w) => w !== self?.workflowId);
  const states = await Promise.all(others.map(async (w) => [w, stateOf ? await stateOf(w) : 'unknown'] as const));
  return new Map(states);
}

/**
 * Drops `self`'s hold on the entry and those of workflows known closed (in the lift's transaction,
 * the target locked). Returns who still holds it (open, unknown, or new since the states were read:
 * fail closed) and whose holds were dropped.
 */
export async function releaseHolds(tx: Queryable, revocationId: string, self: ContainmentHolder | undefined, known: Map<string, RunState>): Promise<{ holding: Holding[]; dropped: string[] }> {
  if (self) await tx.query(`DELETE FROM containment_holds WHERE revocation_id = $1 AND workflow_id = $2`, [revocationId, self.workflowId]);
  const { rows } = await tx.query<{ workflow_id: string }>(`SELECT DISTINCT workflow_id FROM containment_holds WHERE revocation_id = $1 ORDER BY workflow_id`, [revocationId]);
  const holding: Holding[] = [];
  const dropped: string[] = [];
  for (const { workflow_id: workflowId } of rows) {
    const state = known.get(workflowId) ?? 'open';
    if (state === 'closed') dropped.push(workflowId);
    else holding.push({ workflowId, state });
  }
  if (dropped.length > 0) await tx.query(`DELETE FROM containment_holds WHERE revocation_id = $1 AND workflow_id = ANY ($2::text[])`, [revocationId, dropped]);
  return { holding, dropped };
}

export interface KeepHeldOptions extends ResponderDeps {
  /** How far past now a kept entry is moved. Default: the containment hold, 7 days. */
  holdSeconds?: number;
  /** Live entries ending within this are looked at. Default 3 days. */
  renewWithinSeconds?: number;
  policyVersion: string;
}

export interface KeepHeldReport {
  /** Entries moved later: a holding workflow was open, or its state could not be read (fail closed). */
  kept: number;
  /** Holds of closed workflows, dropped. */
  released: number;
  /** Entries none of whose holders is open any more: they lapse, audited as revocation.containment_orphaned. */
  orphaned: number;
}

/**
 * Keeps a key's temporary containment in force while the revocation run that holds it is open: the
 * run waits for sign-off with no end, and an entry that lapsed would let tokens forged with the
 * suspect key validate again. An entry is moved later, audited and announced to validators when any
 * of its holders is open or cannot be read; the holds of closed runs are dropped (audited), and an
 * entry left with none is recorded as orphaned: it lapses, and an issuance pause it came with stays
 * until a new revocation of the key settles it (approved: a rotation; rejected: a lift). Only kid entries: a token's or subject's entry ends once the tokens it
 * matches can no longer be valid anyway. Each entry in its own transaction, under the target's lock.
 */
export async function keepHeldContainments(db: Queryable, stateOf: HolderState, o: KeepHeldOptions): Promise<KeepHeldReport> {
  const { appendAudit, clock } = resolveDeps(o);
  const now = clock.now();
  const holdMs = (o.holdSeconds ?? DEFAULT_CONTAINMENT_HOLD_SECONDS) * 1000;
  const within = new Date(now.getTime() + (o.renewWithinSeconds ?? 3 * 24 * 3600) * 1000);
  const { rows } = await db.query<{ id: string; value: string; workflow_id: string }>(
    `SELECT DISTINCT r.id::text AS id, r.value, h.workflow_id
       FROM revocations r JOIN containment_holds h ON h.revocation_id = r.id
      WHERE r.kind = 'kid' AND r.temporary AND r.expires_at > $1 AND r.expires_at < $2
      ORDER BY 1, 3`,
    [now, within],
  );
  const states = new Map(await Promise.all([...new Set(rows.map((r) => r.workflow_id))].map(async (w) => [w, await stateOf(w)] as const)));
  const entries = new Map(rows.map((r) => [r.id, r.value]));
  const report: KeepHeldReport = { kept: 0, released: 0, orphaned: 0 };
  for (const [id, kid] of entries) {
    await withTransaction(db, async (tx) => {
      await lockTarget(tx, 'kid', kid);
      const { holding, dropped } = await releaseHolds(tx, id, undefined, states);
      report.released += dropped.length;
      const audit = (action: string, details: Record<string, unknown>) =>
        appendAudit(tx, { actor: { role: 'RevocationResponder' }, action, subject: { kid }, policyVersion: o.policyVersion, outcome: 'ok', details: { revocationId: id, ...details } });
      if (holding.length === 0) {
        if (dropped.length === 0) return;
        report.orphaned++;
        await audit('revocation.containment_orphaned', { releasedFor: dropped, note: 'every revocation run holding it ended without lifting or confirming it: the entry lapses at its expiry; an issuance pause it came with stays; to settle it, revoke the key again: approving that run rotates the key, rejecting it lifts the containment and resumes issuance' });
        return;
      }
      const until = await extendTemporaryRevocation(tx, id, new Date(now.getTime() + holdMs));
      if (!until) return;
      report.kept++;
      await audit('revocation.containment_kept', { expiresAt: until.toISOString(), heldBy: holding, ...(dropped.length ? { releasedFor: dropped } : {}) });
    });
  }
  return report;
}
