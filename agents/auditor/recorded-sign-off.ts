import { verifyAttestation } from '../approvals/attestation.js';
import { channelKeyLookup } from '../approvals/channel-keys.js';
import type { Vote } from '../approvals/quorum.js';
import { isKeyturnError } from '../../config/errors.js';
import type { Queryable } from '../shared/db.js';

/** A run, as the audit log names it. */
export interface RunRef {
  workflowId: string;
  runId: string;
}

interface VoteRow {
  at: Date;
  actor: { cliUser?: string; slackUser?: string };
  details: { channel?: string; attestation?: unknown };
}

/** The attestation's own issue time, read before it is verified: its freshness was judged when the check accepted it. */
function issuedAt(jws: string): Date | undefined {
  try {
    const iat = (JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iat?: unknown }).iat;
    return typeof iat === 'number' && Number.isSafeInteger(iat) ? new Date(iat * 1000) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The votes of `decision` that this run's sign-off check accepted and recorded for `planHash`.
 * Effects that follow a sign-off count these, never the votes the workflow passes along: those
 * come from Temporal history, where someone with access to the namespace (but not to keyturn's
 * keys) could have put an encrypted check result copied from another run. Nor is an entry taken at
 * its word: whoever holds keyturn's database login can append entries, so each vote counts only
 * with the attestation it recorded, signed by a registered, enabled channel key, bound to this run
 * and plan, and naming the entry's approver. What the vote says (reason, groups) is the attestation's.
 */
export async function recordedVotes(db: Queryable, run: RunRef, planHash: string, decision: 'approve' | 'reject'): Promise<Vote[]> {
  const { rows } = await db.query<VoteRow & Record<string, unknown>>(
    `SELECT at, actor, details FROM audit_log
      WHERE action = $1 AND outcome = 'ok' AND subject ->> 'workflowId' = $2 AND actor ->> 'runId' = $3 AND subject ->> 'planHash' = $4
      ORDER BY seq`,
    [`approval.${decision}`, run.workflowId, run.runId, planHash],
  );
  const lookup = channelKeyLookup(db);
  const votes: Vote[] = [];
  for (const r of rows) {
    const approver = r.actor.cliUser ?? r.actor.slackUser;
    const jws = r.details.attestation;
    const signedAt = typeof jws === 'string' ? issuedAt(jws) : undefined;
    if (approver === undefined || typeof jws !== 'string' || !signedAt) continue;
    const claims = await verifyAttestation(jws, lookup, { workflowId: run.workflowId, runId: run.runId, planHash, allowedChannels: ['slack', 'cli'], now: signedAt }).catch((e: unknown) => {
      if (isKeyturnError(e, 'ATTESTATION_INVALID')) return undefined;
      throw e;
    });
    if (!claims || claims.decision !== decision || claims.approver !== approver || claims.channel !== r.details.channel) continue;
    const slackSaid = r.actor.slackUser !== undefined;
    if (slackSaid !== (claims.channel === 'slack')) continue;
    votes.push({
      approver, decision, channel: claims.channel, at: new Date(r.at).toISOString(),
      ...(claims.reason ? { reason: claims.reason } : {}),
      ...(claims.viaGroup ? { viaGroup: claims.viaGroup } : {}),
      ...(claims.viaGroups?.length ? { viaGroups: [...claims.viaGroups] } : {}),
    });
  }
  return votes;
}

/** The entry `requestId` recorded for `action`, if any: a run's own step, found by its request id. */
export async function recordedEntry(db: Queryable, requestId: string, action: string): Promise<{ outcome: string; subject: Record<string, unknown>; details: Record<string, unknown> } | undefined> {
  const { rows } = await db.query<{ outcome: string; subject: Record<string, unknown>; details: Record<string, unknown> }>(
    'SELECT outcome, subject, details FROM audit_log WHERE request_id = $1 AND action = $2',
    [requestId, action],
  );
  return rows[0];
}
