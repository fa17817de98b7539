import { createHash } from 'node:crypto';
import { expiredAt, expiryJudgedAt, verifyAttestation, type ChannelKey } from '../agents/approvals/attestation.js';
import { mayReject, refuseVote, refuseVoteToday, tally, type Vote } from '../agents/approvals/quorum.js';
import type { AppendAudit } from '../agents/auditor/types.js';
import type { ApprovalPolicy } from '../agents/planner/policy-types.js';
import type { Clock } from '../agents/shared/clock.js';
import { isKeyturnError } from '../config/errors.js';
import type { Pool } from '../db/pool.js';
import { actorFor } from './context.js';

export type { ApprovalPolicy };

export interface SignOffDeps {
  pool: Pool;
  appendAudit: AppendAudit;
  clock: Clock;
  channelKey: (kid: string) => Promise<ChannelKey | undefined>;
  /** Today's approvals of an issuer (undefined when the policy no longer lists it). */
  currentApprovals?: (issuer: string) => ApprovalPolicy | undefined;
}

export interface CheckDecisionInput {
  attestation: string;
  signalName: 'approve' | 'reject' | 'rollback';
  workflowId: string;
  runId: string;
  planHash: string;
  requester: string;
  policyVersion: string;
  approvals: ApprovalPolicy;
  votes: Array<Omit<Vote, 'decision'> & { decision: 'approve' | 'reject' }>;
  decided: boolean;
  /** What the run is about (absent from runs started before it was passed): a rotation's or revocation's subject is its issuer. */
  kind?: 'rotation' | 'revocation' | 'policy';
  subject?: string;
  /**
   * When the workflow took the signal in (absent from older runs): the start of the workflow task
   * that processed it. For a vote held to today's policy here (CLI votes on rotations and
   * revocations), expiry is judged then, within an hour, not when this check runs: a decision held
   * back by a database outage past its attestation's five minutes still counts.
   */
  receivedAt?: string;
  /**
   * false: a refusal is returned, not written to the audit log (the run has spent its budget of
   * `approval.ignored` entries and counts it into a summary entry). Absent: written, as always.
   */
  auditRefusal?: boolean;
}

export interface CheckedDecision {
  accepted: boolean;
  refusal?: string;
  vote?: { approver: string; decision: 'approve' | 'reject' | 'rollback'; channel: string; at: string; reason?: string; viaGroup?: string; viaGroups?: string[] };
  /** Where the sign-off stands with this vote counted (accepted approve/reject votes only). */
  standing?: 'approved' | 'rejected' | 'pending';
  auditSeqs: number[];
  /** A refusal not written to the audit log, as the input asked (`auditRefusal: false`): the run counts it. */
  unrecorded?: true;
  /** Whose attested vote an unrecorded refusal refused, when the attestation named someone. */
  refusedFor?: { channel: string; approver: string };
}

/** The user groups the Slack app vouched for, as the vote records them. */
const groupsOf = (c: { viaGroup?: string; viaGroups?: string[] }) => ({ ...(c.viaGroup ? { viaGroup: c.viaGroup } : {}), ...(c.viaGroups?.length ? { viaGroups: [...c.viaGroups] } : {}) });

/** Who a decision names, by its channel: a Slack user id or a CLI approver. */
const humanOf = (channel: string, approver: string) => (channel === 'slack' ? { slackUser: approver } : { cliUser: approver });

/**
 * The audit request id of an accepted decision: a retry of the same check finds its entry, and no
 * signer can point it at another entry, as a jti they chose could (the audit log deduplicates by
 * request id across the whole table).
 */
const decisionRequestId = (input: CheckDecisionInput) =>
  `attestation:${createHash('sha256').update(`${input.workflowId}\n${input.runId}\n${input.signalName}\n${input.attestation}`).digest('base64url')}`;

/**
 * A CLI vote on a rotation or revocation must also be allowed by today's policy, so taking someone
 * (or the CLI channel) out of the policy takes effect on runs already waiting. The Slack app checks
 * today's policy itself before it signs, with the user-group lookups only it can do.
 */
function checkedAgainstToday(vote: Vote, input: CheckDecisionInput, currentApprovals: SignOffDeps['currentApprovals']): currentApprovals is NonNullable<SignOffDeps['currentApprovals']> {
  return vote.channel !== 'slack' && currentApprovals !== undefined && input.subject !== undefined && (input.kind === 'rotation' || input.kind === 'revocation');
}

function refusedToday(vote: Vote, state: Parameters<typeof refuseVote>[1], input: CheckDecisionInput, currentApprovals: SignOffDeps['currentApprovals']): string | undefined {
  if (!checkedAgainstToday(vote, input, currentApprovals) || input.subject === undefined) return undefined;
  // A revocation reaching several issuers pinned one group per issuer: the vote counts towards every
  // group that lists the voter, so today's policy of each of those issuers must still allow it.
  const issuers = input.approvals.groups?.length ? input.approvals.groups.filter((g) => g.approvers.includes(vote.approver)).map((g) => g.label) : [input.subject];
  if (issuers.length === 0) return 'not-an-approver-in-current-policy';
  return issuers.map((issuer) => refuseVoteToday(vote, state, currentApprovals(issuer))).find((r) => r !== undefined);
}

/** The code of an error that retrying cannot cure, or undefined for one that may pass (a connection, a lock, a timeout). */
function permanentFailure(e: unknown): string | undefined {
  if (isKeyturnError(e, 'AUDIT_ENTRY_INVALID')) return e.code;
  const sqlstate = (e as { code?: unknown })?.code;
  // SQLSTATE classes 22 (data exception), 23 (constraint) and 42 (syntax or access): the same input fails the same way.
  return typeof sqlstate === 'string' && /^(22|23|42)[0-9A-Z]{3}$/.test(sqlstate) ? `sqlstate-${sqlstate}` : undefined;
}

/** The gate's check of one decision signal: attestation first, then the policy's approval rules. */
export function createSignOffActivities(deps: SignOffDeps) {
  return {
    async checkDecision(input: CheckDecisionInput): Promise<CheckedDecision> {
      const actor = actorFor('Auditor');
      const refuse = async (refusal: string, named?: { channel: string; approver: string }, audited = input.auditRefusal !== false): Promise<CheckedDecision> => {
        if (!audited) return { accepted: false, refusal, auditSeqs: [], unrecorded: true, ...(named ? { refusedFor: { channel: named.channel, approver: named.approver } } : {}) };
        const entry = await deps.appendAudit(deps.pool, {
          actor: { ...actor, ...(named ? humanOf(named.channel, named.approver) : {}) },
          action: 'approval.ignored',
          subject: { workflowId: input.workflowId },
          policyVersion: input.policyVersion,
          outcome: 'refused',
          details: { signal: input.signalName, refusal, ...(input.receivedAt ? { signalReceivedAt: input.receivedAt } : {}) },
        });
        return { accepted: false, refusal, auditSeqs: [entry.seq] };
      };
      // The run a vote is checked for is the one the task says scheduled the check, not the one its
      // input names: a check scheduled elsewhere with a copy of this run's input decides nothing.
      // Always audited: the input's `auditRefusal` is that other run's word, not this one's.
      if (input.workflowId !== actor.workflowId || input.runId !== actor.runId) return refuse('check-scheduled-by-another-run', undefined, true);
      try {
        let claims;
        try {
          claims = await verifyAttestation(input.attestation, deps.channelKey, {
            workflowId: input.workflowId,
            runId: input.runId,
            planHash: input.planHash,
            allowedChannels: input.approvals.channels,
            now: expiryJudgedAt(input.receivedAt, deps.clock.now()),
          });
        } catch (e) {
          if (isKeyturnError(e, 'ATTESTATION_INVALID')) return refuse(`attestation:${String(e.details?.why)}`);
          throw e;
        }
        if (claims.decision !== input.signalName) return refuse('signal-does-not-match-attestation', claims);
        const checkedAt = deps.clock.now();
        const vote: Vote = { approver: claims.approver, decision: claims.decision === 'reject' ? 'reject' : 'approve', channel: claims.channel, at: checkedAt.toISOString(), ...(claims.reason ? { reason: claims.reason } : {}), ...groupsOf(claims) };
        // Judging expiry when the signal arrived is safe only for a vote held to today's policy here;
        // the Slack app's own check (and a policy change's approvers) are as of the click.
        if (!checkedAgainstToday(vote, input, deps.currentApprovals) && expiredAt(claims, checkedAt)) return refuse('attestation:expired', claims);
        // A rollback may come from any approver at any time, the requester included.
        const state = claims.decision === 'rollback' ? { votes: [], requester: '\u0000', decided: false } : { votes: input.votes, requester: input.requester, decided: input.decided };
        const refusal = refuseVote(vote, state, input.approvals);
        if (refusal) return refuse(refusal, claims);
        // A rejection lifts the containment everywhere: only the named issuer's approvers may reject.
        if (claims.decision === 'reject' && input.kind === 'revocation' && input.subject !== undefined && !mayReject(vote, input.approvals, input.subject)) {
          return refuse('reject-needs-an-approver-of-the-named-issuer', claims);
        }
        const today = refusedToday(vote, state, input, deps.currentApprovals);
        if (today) return refuse(today, claims);
        const entry = await deps.appendAudit(deps.pool, {
          actor: { role: 'Human', ...humanOf(claims.channel, claims.approver), workflowId: input.workflowId, runId: input.runId },
          action: `approval.${claims.decision}`,
          subject: { workflowId: input.workflowId, planHash: input.planHash },
          policyVersion: input.policyVersion,
          outcome: 'ok',
          // The attestation itself: effects count a recorded vote only once its signature is checked again (recordedVotes).
          details: { channel: claims.channel, ...(claims.reason ? { reason: claims.reason } : {}), ...groupsOf(claims), ...(input.receivedAt ? { signalReceivedAt: input.receivedAt } : {}), attestation: input.attestation },
          requestId: decisionRequestId(input),
        });
        const standing = claims.decision === 'rollback' ? undefined : tally([...input.votes, vote], input.approvals.quorum, input.approvals);
        return { accepted: true, vote: { ...vote, decision: claims.decision }, ...(standing ? { standing } : {}), auditSeqs: [entry.seq] };
      } catch (e) {
        // A failure no retry can cure (a value PostgreSQL refuses, an entry the audit log refuses)
        // would hold the gate for ever: the signal is refused and audited instead.
        const permanent = permanentFailure(e);
        if (permanent) return refuse(`unrecordable:${permanent}`);
        throw e;
      }
    },
  };
}

export type SignOffActivities = ReturnType<typeof createSignOffActivities>;
