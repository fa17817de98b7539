import { Context } from '@temporalio/activity';
import { ScheduleNotFoundError, WorkflowNotFoundError } from '@temporalio/client';
import { planRotation, type RotationPlan } from '../agents/planner/planner.js';
import { scheduleIdFor } from '../client/schedules.js';
import { issuerPolicy } from '../agents/planner/policy.js';
import type { ApprovalPolicy, Policy } from '../agents/planner/policy-types.js';
import type { KeyManager } from '../agents/key-manager/key-manager.js';
import type { AppendAudit } from '../agents/auditor/types.js';
import type { Clock } from '../agents/shared/clock.js';
import type { ChannelKey } from '../agents/approvals/attestation.js';
import { checkStartRequest, requesterVerification, rotationDue, startSignatureRequired } from '../agents/approvals/start-request.js';
import { inTransaction, type Pool } from '../db/pool.js';
import type { RotationInput } from '../workflows/types.js';
import { actorFor, asActivity, changedOnRetry, recordedStep, requestIdFor, useRunStart } from './context.js';
import { requesterLabel } from '../workflows/ids.js';

export type { RotationPlan };

export interface PlannerDeps {
  pool: Pool;
  keyManager: KeyManager;
  appendAudit: AppendAudit;
  clock: Clock;
  /** The policy in force now. */
  currentPolicy: () => Promise<Policy>;
  /** Registered approval channel keys, by kid: they vouch for signed start requests. */
  channelKey: (kid: string) => Promise<ChannelKey | undefined>;
}

export interface PlannedRotation {
  plan: RotationPlan;
  approvals: ApprovalPolicy;
  timing: { prePublishLeadSeconds: number; postRetireOverlapSeconds: number; approvalTimeoutSeconds: number };
  auditSeqs: number[];
}

/**
 * Whether the running rotation is the child of a run its issuer's Temporal Schedule started, by the
 * schedule's own record of the runs it started. (A client may set the TemporalScheduledById search
 * attribute on a run it starts by hand: the dev server accepted it, so it proves nothing.)
 */
async function startedByIssuerSchedule(issuer: string): Promise<boolean> {
  const { client, info } = Context.current();
  const run = info.workflowExecution;
  if (!run) return false;
  const parent = (await client.workflow.getHandle(run.workflowId, run.runId).describe()).parentExecution;
  if (!parent?.workflowId || !parent.runId) return false;
  const schedule = await client.schedule.getHandle(scheduleIdFor(issuer)).describe().catch((e: unknown) => {
    if (e instanceof ScheduleNotFoundError) return undefined;
    throw e;
  });
  if (!schedule) return false;
  const started = [...schedule.info.runningActions, ...schedule.info.recentActions.map((a) => a.action)];
  return started.some((a) => a.workflow.workflowId === parent.workflowId && a.workflow.firstExecutionRunId === parent.runId);
}

/** How the run that holds an issuer's rotation lock ended ('TERMINATED', 'NOT_FOUND'…), or undefined while it runs. */
async function endedRun(workflowId: string): Promise<string | undefined> {
  try {
    const { status } = await Context.current().client.workflow.getHandle(workflowId).describe();
    return status.name === 'RUNNING' ? undefined : status.name;
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return 'NOT_FOUND';
    throw e;
  }
}

/** The schedule records a run it started just after starting it: a few looks, a second apart, before a refusal. */
async function startedByIssuerScheduleSoon(issuer: string, looks = 5): Promise<boolean> {
  for (let i = 1; ; i++) {
    if (await startedByIssuerSchedule(issuer)) return true;
    if (i >= looks) return false;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * The keys a run that ended without finishing left published, with no run left to withdraw them:
 * the pending keys it generated (never used to sign) are marked failed; the key it moved to
 * retiring is retired once the overlap since then has passed (tokens it signed have expired), and
 * is otherwise left for a later reclaim. Each change is KeyManager's, idempotent and audited.
 */
async function withdrawAbandonedKeys(deps: PlannerDeps, issuer: string, abandonedBy: string, policyVersion: string, overlapSeconds: number): Promise<void> {
  const { rows } = await deps.pool.query<{ kid: string; state: string; due: boolean }>(
    `SELECT k.kid, k.state, (k.retiring_at + make_interval(secs => $3) <= now()) AS due FROM signing_keys k
      WHERE k.issuer = $1 AND (
        (k.state = 'pending' AND EXISTS (SELECT 1 FROM audit_log a WHERE a.action = 'key.generate' AND a.outcome = 'ok' AND a.actor ->> 'workflowId' = $2 AND a.subject ->> 'kid' = k.kid))
        OR (k.state = 'retiring' AND EXISTS (SELECT 1 FROM audit_log a WHERE a.action = 'key.activate' AND a.outcome = 'ok' AND a.actor ->> 'workflowId' = $2 AND a.details ->> 'previousKid' = k.kid)))`,
    [issuer, abandonedBy, overlapSeconds],
  );
  const actor = actorFor('KeyManager');
  for (const { kid, state, due } of rows) {
    if (state === 'pending') {
      await deps.keyManager.markFailed({ requestId: requestIdFor(`withdraw-abandoned:${kid}`), kid, reason: `generated by ${abandonedBy}, which ended without activating or withdrawing it`, policyVersion, actor });
    } else if (due) {
      await deps.keyManager.retire({ requestId: requestIdFor(`retire-abandoned:${kid}`), kid, policyVersion, actor });
    }
  }
}

/** Planner's activities: plan a run from the policy in force, holding the issuer's in-flight lock. */
export function createPlannerActivities(deps: PlannerDeps) {
  return {
    async planRotation(input: RotationInput): Promise<PlannedRotation> {
      return asActivity(async () => {
        const actor = actorFor('Planner');
        await useRunStart(deps.pool, input.startNonce);
        const policy = await deps.currentPolicy();
        const p = issuerPolicy(policy, input.issuer);
        const currentKeys = await deps.keyManager.listKeys({ issuer: input.issuer });
        // A retry after the plan was recorded skips the start check (see recordedStep).
        const recorded = await recordedStep(deps.pool, 'plan', 'rotation.planned');
        const requester = recorded ? undefined : await checkStartRequest(
          {
            kind: 'rotation', workflowId: actor.workflowId ?? 'standalone', requester: input.requester.id, requesterKind: input.requester.kind, request: input,
            startedBySchedule: () => startedByIssuerScheduleSoon(input.issuer),
            rotationDue: rotationDue(currentKeys.find((k) => k.state === 'active'), p.rotationPeriodSeconds, deps.clock.now()),
          },
          deps.channelKey,
          { required: startSignatureRequired(policy, { kind: 'rotation', issuers: [p] }), now: deps.clock.now() },
        );
        let reclaimedFrom: string | undefined;
        const planned = await inTransaction(deps.pool, async (tx) => {
          await tx.query('INSERT INTO rotation_locks (issuer, workflow_id) VALUES ($1, $2) ON CONFLICT (issuer) DO NOTHING', [input.issuer, actor.workflowId]);
          const lock = await tx.query<{ workflow_id: string }>('SELECT workflow_id FROM rotation_locks WHERE issuer = $1 FOR UPDATE', [input.issuer]);
          const holder = lock.rows[0]?.workflow_id;
          let inFlight = holder !== actor.workflowId;
          // A run that ended without releasing the lock (terminated, say) no longer holds it.
          const ended = inFlight && holder ? await endedRun(holder) : undefined;
          if (holder && ended) {
            await tx.query('UPDATE rotation_locks SET workflow_id = $2 WHERE issuer = $1', [input.issuer, actor.workflowId]);
            await deps.appendAudit(tx, { actor, action: 'rotation.lock_reclaimed', subject: { issuer: input.issuer }, policyVersion: policy.version, outcome: 'ok', details: { from: holder, status: ended }, requestId: requestIdFor('lock-reclaim') });
            inFlight = false;
            reclaimedFrom = holder;
          }
          // A retry plans from the first attempt's start, so it returns the very plan that was recorded.
          const recordedStart = (recorded?.details.timeline as { publishAt?: string } | undefined)?.publishAt;
          const clock = recordedStart ? { now: () => new Date(recordedStart) } : deps.clock;
          const plan = planRotation({ policy, issuer: input.issuer, currentKeys, inFlight, reason: input.reason, requester: requesterLabel(input.requester), clock, runId: input.planId });
          if (recorded && recorded.details.planHash !== plan.planHash) throw changedOnRetry('the policy or the keys changed after this plan was recorded');
          const entry = await deps.appendAudit(tx, {
            actor,
            action: 'rotation.planned',
            subject: { issuer: input.issuer },
            policyVersion: policy.version,
            outcome: 'ok',
            details: { handoff: 'Planner → Security lead', planHash: plan.planHash, newAlg: plan.newKey.alg, replacesKid: plan.replacesKid ?? null, timeline: plan.timeline, reason: plan.reason, approvals: p.approvals, ...(requester ? requesterVerification(requester) : {}) },
            requestId: requestIdFor('plan'),
          });
          return {
            plan,
            approvals: p.approvals,
            timing: { prePublishLeadSeconds: p.prePublishLeadSeconds, postRetireOverlapSeconds: p.postRetireOverlapSeconds, approvalTimeoutSeconds: p.approvals.timeoutSeconds },
            auditSeqs: [entry.seq],
          };
        });
        if (reclaimedFrom) await withdrawAbandonedKeys(deps, input.issuer, reclaimedFrom, policy.version, p.postRetireOverlapSeconds + p.clockSkewSeconds);
        return planned;
      });
    },

    async releaseRotationLock(input: { issuer: string }): Promise<void> {
      const { workflowId } = actorFor('Planner');
      await deps.pool.query('DELETE FROM rotation_locks WHERE issuer = $1 AND workflow_id = $2', [input.issuer, workflowId]);
    },
  };
}

export type PlannerActivities = ReturnType<typeof createPlannerActivities>;

