import { display } from './display.js';
import { tellRecording } from './notify.js';
import { failureReason } from './failure.js';
import {
  CancellationScope,
  condition,
  defineQuery,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { AuditorActivities } from '../activities/auditor.js';
import type { KeyManagerActivities } from '../activities/key-manager.js';
import type { PlannerActivities, PlannedRotation } from '../activities/planner.js';
import type { TokenIssuerActivities } from '../activities/token-issuer.js';
import type { ValidatorActivities } from '../activities/validator.js';
import { SignOffGate } from './sign-off.js';
import { renderCurrentDetails } from './current-details.js';
import { summarise } from './summaries.js';
import { requesterLabel } from './ids.js';
import { pinnedApprovals, type RotationInput, type RunOutcome, type RunResult, type RunStatus } from './types.js';

export const statusQuery = defineQuery<RunStatus>('status');
/** Signals received by a wait's deadline are checked before the run moves on (histories from before moved on). */
const CHECK_BEFORE_MOVING_ON_PATCH = 'check-rollbacks-received-by-deadline';

const retryable = { startToCloseTimeout: '1 minute', retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20 } } as const;
const planner = proxyActivities<PlannerActivities>({ startToCloseTimeout: '1 minute', retry: { maximumAttempts: 5 } });
const keyManager = proxyActivities<KeyManagerActivities>(retryable);
const tokenIssuer = proxyActivities<TokenIssuerActivities>(retryable);
const validator = proxyActivities<ValidatorActivities>({ startToCloseTimeout: '1 minute', retry: { maximumAttempts: 3 } });
const auditor = proxyActivities<AuditorActivities>(retryable);

/**
 * One key rotation: plan → sign-off → generate and pre-publish → wait the lead time → activate →
 * canary-validate → overlap → retire. Any failure after generation, or an attested rollback,
 * runs the compensations newest-first in a non-cancellable scope.
 */
export async function rotationWorkflow(input: RotationInput): Promise<RunResult> {
  const seqs: number[] = [];
  const track = <T extends { auditSeqs?: number[] }>(r: T): T => {
    if (r.auditSeqs) seqs.push(...r.auditSeqs);
    return r;
  };
  const status: RunStatus = { phase: 'planning', approvals: [], deadlines: {} };
  setHandler(statusQuery, () => status);
  let shown: string | undefined;
  const render = () => setCurrentDetails(renderCurrentDetails(status, shown));
  const notice = tellRecording(status, render);
  const phase = (p: string, details?: string) => {
    status.phase = p;
    shown = details;
    upsertSearchAttributes({ KeyturnPhase: [p] });
    render();
  };
  /** Set once sign-off is asked for: the run's end records the decision signals it left unhandled. */
  let signOffGate: SignOffGate | undefined = undefined;
  const finish = async (outcome: RunOutcome, extra: Partial<RunResult> = {}): Promise<RunResult> => {
    status.outcome = outcome;
    phase(outcome, extra.reason);
    upsertSearchAttributes({ KeyturnOutcome: [outcome] });
    await CancellationScope.nonCancellable(async () => {
      track(await auditor.recordHandoff.executeWithOptions({ summary: display(summarise.finish(outcome)) }, [{ from: 'Orchestrator', to: 'Auditor', action: `rotation.${outcome}`, subject: { issuer: input.issuer }, policyVersion: status.policyVersion ?? 'unknown', outcome: outcome === 'completed' ? 'ok' : outcome === 'failed' ? 'failed' : 'refused', details: { reason: extra.reason ?? null, newKid: extra.newKid ?? null } }]));
      await planner.releaseRotationLock.executeWithOptions({ summary: display(`Orchestrator → Planner: release the rotation lock of ${input.issuer}`) }, [{ issuer: input.issuer }]);
      await notice(`Orchestrator → approvers: run ${outcome}`, { type: `run.${outcome}`, kind: 'rotation', workflowId: workflowInfo().workflowId, runId: workflowInfo().runId, subject: input.issuer, reason: extra.reason ?? null, ...(status.planHash ? { planHash: status.planHash } : {}) });
      if (signOffGate) track(await signOffGate.recordUnhandled(outcome));
    });
    // The result is display (clear in the Web UI): public facts only, never key material or the plan.
    return display({ outcome, ...(status.planHash ? { planHash: status.planHash } : {}), approvals: status.approvals, auditSeqRange: seqs.length ? [Math.min(...seqs), Math.max(...seqs)] : null, ...extra });
  };

  upsertSearchAttributes({ KeyturnIssuer: [input.issuer], KeyturnRequester: [requesterLabel(input.requester)] });
  phase('planning');
  let planned: PlannedRotation;
  try {
    planned = track(await planner.planRotation.executeWithOptions({ summary: display(summarise.plan(input.issuer)) }, [input]));
  } catch (e) {
    log.warn('planning refused', { error: failureReason(e) });
    return finish('failed', { reason: `planning refused: ${failureReason(e)}` });
  }
  const { plan, timing } = planned;
  Object.assign(status, { planHash: plan.planHash, plan, policyVersion: plan.policyVersion, quorum: planned.approvals.quorum, signOff: pinnedApprovals(planned.approvals) });

  // 1. Sign-off.
  phase('awaiting_sign_off', `Plan ${plan.planHash.slice(0, 12)}: ${plan.reason}`);
  const gate = new SignOffGate({
    kind: 'rotation',
    tell: notice,
    subject: input.issuer,
    planHash: plan.planHash,
    requester: `${input.requester.id}`,
    policyVersion: plan.policyVersion,
    approvals: planned.approvals,
    summary: { issuer: input.issuer, oldKid: plan.replacesKid ?? null, newAlg: plan.newKey.alg, timeline: plan.timeline, reason: plan.reason, requester: input.requester.id },
    onChange: () => {
      if (gate.state.deadline) status.deadlines.approval = gate.state.deadline;
      render();
    },
  });
  status.approvals = gate.state.votes;
  signOffGate = gate;
  const decision = await gate.await();
  seqs.push(...gate.state.auditSeqs);
  if (decision.decided === 'rejected') return finish('rejected', { reason: decision.rejectionReason ?? 'rejected' });
  if (decision.decided !== 'approved') return finish('expired', { reason: `no sign-off within ${timing.approvalTimeoutSeconds}s` });

  // 2. Generate and pre-publish; from here on every failure is compensated.
  phase('publishing');
  const generated = track(await keyManager.generateKey.executeWithOptions({ summary: display(summarise.generate(plan.newKey.alg, input.issuer)) }, [{ issuer: input.issuer, plan }]));
  const newKid = generated.kid;
  const previousKid = plan.replacesKid;
  upsertSearchAttributes({ KeyturnKid: [newKid] });
  let activated = false;
  /** Something the completed run found on its way, for its outcome entry. */
  let completedNote: string | undefined;

  const compensate = async (why: string): Promise<RunResult> => {
    phase('compensating', why);
    await CancellationScope.nonCancellable(async () => {
      let restored = false;
      if (activated && previousKid) {
        try {
          track(await keyManager.restorePreviousKey.executeWithOptions({ summary: display(summarise.restore(previousKid, newKid)) }, [{ issuer: input.issuer, previousKid, failedKid: newKid, reason: why, policyVersion: plan.policyVersion }]));
          restored = true;
        } catch (e) {
          log.error('restoring the previous key failed', { error: failureReason(e) });
        }
      } else {
        track(await keyManager.markKeyFailed.executeWithOptions({ summary: display(summarise.markFailed(newKid)) }, [{ kid: newKid, reason: why, policyVersion: plan.policyVersion }]));
        restored = !activated;
      }
      if (!restored) {
        track(await tokenIssuer.pauseIssuance.executeWithOptions({ summary: display(summarise.pause(input.issuer)) }, [{ issuer: input.issuer, reason: `rotation rollback could not restore a signing key: ${why}`, policyVersion: plan.policyVersion }]));
      }
    });
    return finish('rolled_back', { reason: why, newKid, ...(previousKid ? { previousKid } : {}) });
  };

  const rollbackRequested = () => {
    if (gate.hasQueued()) return true;
    return gate.state.rollbackRequested !== undefined;
  };
  const rollbackReason = (): string | undefined => {
    const r = gate.state.rollbackRequested;
    return r ? `rollback requested by ${r.by}${r.reason ? `: ${r.reason}` : ''}` : undefined;
  };
  /**
   * Waits `seconds` unless an attested rollback comes. A signal received by the deadline is checked
   * before the run moves on, even past it: while its check gets no answer of its own, the step it may
   * ask to undo waits too (retiring the previous key cannot be compensated), for at most the policy's
   * sign-off timeout; then the run rolls back, as a step failed that way would make it. A later signal
   * is left to the next wait, so sending signals cannot hold the run.
   */
  const waitOrRollback = async (seconds: number, summary: string): Promise<string | undefined> => {
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
      const interrupted = await condition(rollbackRequested, deadline - Date.now(), { summary: display(summary) });
      if (!interrupted) break;
      await gate.drain('after');
      if (gate.state.rollbackRequested) return rollbackReason();
    }
    if (!gate.state.rollbackRequested && !gate.hasQueued(deadline)) return undefined;
    // Runs from before this rule moved on here.
    if (!patched(CHECK_BEFORE_MOVING_ON_PATCH)) return undefined;
    const holdUntil = deadline + planned.approvals.timeoutSeconds * 1000;
    if (gate.hasQueued(deadline)) phase(status.phase, `${shown ?? ''} A rollback signal received in time waits for its check; the next step waits with it, until ${new Date(holdUntil).toISOString()} at most.`.trim());
    while (!gate.state.rollbackRequested && gate.hasQueued(deadline)) {
      if (Date.now() >= holdUntil) return `a rollback signal received in time got no answer of its own to its check within ${planned.approvals.timeoutSeconds}s: rolled back rather than go on unchecked`;
      await gate.drain('after', deadline);
    }
    return rollbackReason();
  };

  try {
    await notice('KeyManager → approvers: new key published', { type: 'run.published', kind: 'rotation', workflowId: workflowInfo().workflowId, runId: workflowInfo().runId, subject: input.issuer, newKid, planHash: plan.planHash });
    status.deadlines.activateAt = new Date(Date.now() + timing.prePublishLeadSeconds * 1000).toISOString();
    phase('pre_publication', `${newKid} is in the JWKS; activation at ${status.deadlines.activateAt}`);
    const stop = await waitOrRollback(timing.prePublishLeadSeconds, summarise.waitPublish(timing.prePublishLeadSeconds, newKid));
    if (stop) return compensate(stop);

    // 3. Activate, then canary-validate both keys as a relying party would.
    phase('activating');
    const before = previousKid ? track(await tokenIssuer.issueCanary.executeWithOptions({ summary: display(summarise.canaryBefore(input.issuer)) }, [{ issuer: input.issuer, step: 'canary-before' }])) : undefined;
    track(await keyManager.activateKey.executeWithOptions({ summary: display(summarise.activate(newKid)) }, [{ issuer: input.issuer, kid: newKid, policyVersion: plan.policyVersion }]));
    activated = true;
    await notice('KeyManager → approvers: new key active', { type: 'run.activated', kind: 'rotation', workflowId: workflowInfo().workflowId, runId: workflowInfo().runId, subject: input.issuer, newKid, planHash: plan.planHash });

    phase('canary');
    const after = track(await tokenIssuer.issueCanary.executeWithOptions({ summary: display(summarise.canaryAfter(newKid)) }, [{ issuer: input.issuer, step: 'canary-after' }]));
    const verdict = track(await validator.validateCanaries.executeWithOptions({ summary: display(summarise.validate(input.issuer)) }, [{ issuer: input.issuer, expectedNewKid: newKid, canaryToken: after.token, previousToken: before?.token ?? null, policyVersion: plan.policyVersion }]));
    await notice(`Validator → approvers: canary ${verdict.ok ? 'passed' : 'failed'}`, { type: verdict.ok ? 'run.canary_passed' : 'run.canary_failed', kind: 'rotation', workflowId: workflowInfo().workflowId, runId: workflowInfo().runId, subject: input.issuer, newKid, failures: verdict.failures, planHash: plan.planHash });
    if (!verdict.ok) return compensate(`canary validation failed: ${verdict.failures.join('; ')}`);

    // 4. Overlap, then retire the previous key from the JWKS.
    if (previousKid) {
      status.deadlines.retireAt = new Date(Date.now() + timing.postRetireOverlapSeconds * 1000).toISOString();
      phase('overlap', `${previousKid} verifies only; leaves the JWKS at ${status.deadlines.retireAt}`);
      const stopOverlap = await waitOrRollback(timing.postRetireOverlapSeconds, summarise.waitOverlap(timing.postRetireOverlapSeconds, previousKid));
      if (stopOverlap) return compensate(stopOverlap);
      phase('retiring');
      const retired = track(await keyManager.retireKey.executeWithOptions({ summary: display(summarise.retire(previousKid)) }, [{ kid: previousKid, policyVersion: plan.policyVersion }]));
      // Revoked during the rotation: it left the JWKS with its revocation, which is all retiring it would do.
      if (retired.alreadyRevoked) completedNote = `${previousKid} was already revoked: it had left the JWKS, nothing was left to retire`;
    }
  } catch (e) {
    return compensate(`step failed: ${failureReason(e)}`);
  }
  return finish('completed', { newKid, ...(previousKid ? { previousKid } : {}), ...(completedNote ? { reason: completedNote } : {}) });
}
