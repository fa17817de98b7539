import type { AppendAudit } from '../agents/auditor/types.js';
import { recordedEntry, recordedVotes } from '../agents/auditor/recorded-sign-off.js';
import type { Vote } from '../agents/approvals/quorum.js';
import { policyChangeApprovals, requirePolicyChangeSignedOff } from '../agents/planner/policy-change-approvals.js';
import { diffPolicies } from '../agents/planner/policy-diff.js';
import { refuseUnsafeChange } from '../agents/planner/policy-safety.js';
import { activePolicy, liveTokenHorizons, storeAndActivate } from '../agents/planner/policy-store.js';
import { parsePolicy } from '../agents/planner/policy.js';
import type { ApprovalPolicy, Policy } from '../agents/planner/policy-types.js';
import type { Clock } from '../agents/shared/clock.js';
import type { ChannelKey } from '../agents/approvals/attestation.js';
import { checkStartRequest, requesterVerification, startSignatureRequired } from '../agents/approvals/start-request.js';
import { KeyturnError } from '../config/errors.js';
import type { Pool } from '../db/pool.js';
import { actorFor, asActivity, auditSeqsOfThisActivity, changedOnRetry, recordedStep, requestIdFor, useRunStart } from './context.js';

export interface PolicyActivityDeps {
  pool: Pool;
  appendAudit: AppendAudit;
  clock: Clock;
  /** Registered approval channel keys, by kid: they vouch for signed start requests. */
  channelKey: (kid: string) => Promise<ChannelKey | undefined>;
}

export interface PolicyProposal {
  expectedActive: string;
  nextVersion: string;
  changes: string[];
  refusals: string[];
  approvals: ApprovalPolicy;
  auditSeqs: number[];
}

async function safetyRefusals(pool: Pool, current: Policy, next: Policy, now: Date): Promise<string[]> {
  const { rows } = await pool.query<{ issuer: string; workflow_id: string }>('SELECT issuer, workflow_id FROM rotation_locks');
  const inFlight = rows.map((r) => ({ issuer: r.issuer, phase: 'in flight', workflowId: r.workflow_id }));
  return refuseUnsafeChange({ current, next, inFlight, issuedTokens: await liveTokenHorizons(pool, now), now }).map((r) => `${r.code}: ${r.message}`);
}

/** Planner's side of a policy change: diff and safety check against the version in force, then activation. */
export function createPolicyActivities(deps: PolicyActivityDeps) {
  return {
    /** `reason`, `requester` and `startProof` come only with a signed start: the signature covers them with the text. */
    async proposePolicyChange(input: { text: string; startNonce?: string; reason?: string; requester?: string; startProof?: string }): Promise<PolicyProposal> {
      return asActivity(async () => {
        await useRunStart(deps.pool, input.startNonce);
        const current = await activePolicy(deps.pool);
        if (!current) throw new KeyturnError('POLICY_NOT_BOOTSTRAPPED', 'no policy version is active yet', 'Start keyturn once (`npm run dev` bootstraps policy.md), then apply changes.');
        // A retry after the proposal was recorded skips the start check (see recordedStep).
        const recorded = await recordedStep(deps.pool, 'propose', 'policy.proposed');
        if (recorded && recorded.policyVersion !== current.policy.version) throw changedOnRetry('the policy in force changed after this proposal was recorded');
        const requester = recorded ? undefined : await checkStartRequest(
          { kind: 'policy-change', workflowId: actorFor('Planner').workflowId ?? 'standalone', requester: input.requester ?? '(not named to the Planner)', request: input },
          deps.channelKey,
          { required: startSignatureRequired(current.policy, { kind: 'policy-change' }), now: deps.clock.now() },
        );
        const next = parsePolicy(input.text);
        const changes = diffPolicies(current.policy, next);
        // A retry answers what the first attempt recorded, so the run acts on what the audit log says
        // (activation checks safety again in any case).
        const refusals = recorded ? (recorded.details.refusals as string[]) : await safetyRefusals(deps.pool, current.policy, next, deps.clock.now());
        await deps.appendAudit(deps.pool, {
          actor: actorFor('Planner'), action: 'policy.proposed', subject: { version: next.version }, policyVersion: current.policy.version,
          outcome: refusals.length ? 'refused' : 'ok', details: { handoff: 'Planner → Security lead', changes, refusals, ...(requester ? requesterVerification(requester) : {}) },
          requestId: requestIdFor('propose'),
        });
        return { expectedActive: current.policy.version, nextVersion: next.version, changes, refusals, approvals: policyChangeApprovals(current.policy, next), auditSeqs: await auditSeqsOfThisActivity(deps.pool) };
      });
    },

    async activatePolicyChange(input: { text: string; approvers: string[]; votes?: Vote[]; reason: string; requester: string; expectedActive: string }) {
      return asActivity(async () => {
        const current = await activePolicy(deps.pool);
        let approvers = input.approvers;
        if (current) {
          const next = parsePolicy(input.text);
          // What this run's own activities recorded decides, not what the workflow passes along (see recordedVotes).
          const proposed = await recordedEntry(deps.pool, requestIdFor('propose'), 'policy.proposed');
          if (proposed?.outcome !== 'ok' || proposed.subject.version !== next.version) {
            throw new KeyturnError('POLICY_CHANGE_NOT_SIGNED_OFF', `this run recorded no accepted proposal of version ${next.version.slice(0, 12)}`, 'Apply the change again with `keyturn policy apply`.');
          }
          const { workflowId, runId } = actorFor('Planner');
          const votes = await recordedVotes(deps.pool, { workflowId: workflowId ?? '', runId: runId ?? '' }, next.version, 'approve');
          approvers = votes.map((v) => v.approver);
          requirePolicyChangeSignedOff(current.policy, next, { approvers, votes, requester: input.requester });
          // The world may have moved while the change waited for sign-off: check again.
          const refusals = await safetyRefusals(deps.pool, current.policy, next, deps.clock.now());
          if (refusals.length) throw new KeyturnError('POLICY_CHANGE_UNSAFE', `the change became unsafe while it waited: ${refusals.join('; ')}`, 'Wait for the in-flight rotation to end, then apply again.');
        }
        const actor = actorFor('Planner');
        const active = await storeAndActivate(deps.pool, { text: input.text, approvers, reason: input.reason, requester: input.requester, expectedActive: input.expectedActive, requestId: actor.workflowId, actor }, deps.appendAudit);
        return { version: active.policy.version, auditSeqs: await auditSeqsOfThisActivity(deps.pool) };
      });
    },
  };
}

export type PolicyActivities = ReturnType<typeof createPolicyActivities>;
