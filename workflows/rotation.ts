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
/**
 * A rollback acts on the keys' real states and every step of it is guarded, so the run always
 * reaches its end (histories from before chose the branch from a flag of their own and failed with
 * the first refused step).
 */
const ROLLBACK_BY_KEY_STATES_PATCH = 'rollback-follows-key-states';

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
  /** Set by this run's own steps only: a reset run, or a reply lost, may leave the keys ahead of them. */
  let activated = false;
  let canaryPassed = false;
  /** Something the completed run found on its way, for its outcome entry. */
  let completedNote: string | undefined;

  /** Histories from before ROLLBACK_BY_KEY_STATES_PATCH: the branch follows `activated`, a refused step fails the run. */
  const compensateByFlag = async (why: string): Promise<void> => {
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
  };

  /** Runs one compensation step; its failure's reason, or undefined when it succeeded. */
  const attempt = async (what: string, step: () => Promise<unknown>): Promise<string | undefined> => {
    try {
      await step();
      return undefined;
    } catch (e) {
      log.error(`${what} failed`, { error: failureReason(e) });
      return failureReason(e);
    }
  };
  const restorePrevious = (kid: string, why: string) => async () =>
    track(await keyManager.restorePreviousKey.executeWithOptions({ summary: display(summarise.restore(kid, newKid)) }, [{ issuer: input.issuer, previousKid: kid, failedKid: newKid, reason: why, policyVersion: plan.policyVersion }]));
  const withdrawNewKey = (why: string) => async () =>
    track(await keyManager.markKeyFailed.executeWithOptions({ summary: display(summarise.markFailed(newKid)) }, [{ kid: newKid, reason: why, policyVersion: plan.policyVersion }]));
  const pauseIssuance = (why: string) => async () =>
    track(await tokenIssuer.pauseIssuance.executeWithOptions({ summary: display(summarise.pause(input.issuer)) }, [{ issuer: input.issuer, reason: `rotation rollback could not restore a signing key: ${why}`, policyVersion: plan.policyVersion }]));

  /**
   * Undoes the rotation as far as the keys' real states allow. With a previous key, KeyManager's
   * restorePrevious decides: it takes the new key pending or active and the previous key retiring or
   * still active, so whether the new key was activated (by this run, by an attempt whose reply was
   * lost, by a run reset since) need not be known here. Without one (a first rotation) the new key
   * is withdrawn. When that is refused, the keys as they are decide what is left: a new key still
   * pending is withdrawn; an active one that passed its canary (only retiring the previous key
   * failed) goes on signing; an active one not known good, or one whose state cannot be read, stops
   * issuance (fail closed). A failed step is reported in the reason; none keeps the run from its end.
   */
  const rollBack = async (why: string, newKeyHealthy: boolean): Promise<{ outcome: RunOutcome; reason: string }> => {
    let refused: string;
    if (previousKid) {
      const notRestored = await attempt('restoring the previous key', restorePrevious(previousKid, why));
      if (notRestored === undefined) return { outcome: 'rolled_back', reason: why };
      refused = `rolling back to ${previousKid} failed (${notRestored})`;
    } else {
      const notWithdrawn = await attempt('withdrawing the new key', withdrawNewKey(why));
      if (notWithdrawn === undefined) {
        // A first rotation had no key to restore: an activated new key leaves the issuer without one.
        const notPaused = activated ? await attempt('pausing issuance', pauseIssuance(why)) : undefined;
        if (notPaused === undefined) return { outcome: 'rolled_back', reason: why };
        return { outcome: 'failed', reason: `${why}; ${newKid} withdrawn, and issuance could not be paused (${notPaused})` };
      }
      refused = `withdrawing ${newKid} failed (${notWithdrawn})`;
    }
    const told = `${why}; ${refused}`;
    let state: string | undefined;
    const unread = await attempt('reading the key states', async () => {
      const kids = previousKid ? [newKid, previousKid] : [newKid];
      state = (await keyManager.keyStates.executeWithOptions({ summary: display(summarise.keyStates(kids)) }, [{ kids }])).states[newKid];
    });
    if (state === 'active' && newKeyHealthy) return { outcome: 'failed', reason: `${told}; ${newKid} stays active: it passed its canary, issuance goes on` };
    if (state === 'pending' && previousKid) {
      const notWithdrawn = await attempt('withdrawing the new key', withdrawNewKey(why));
      if (notWithdrawn === undefined) return { outcome: 'rolled_back', reason: `${told}; ${newKid} withdrawn` };
      return { outcome: 'failed', reason: `${told}; ${newKid} is pending and could not be withdrawn (${notWithdrawn})` };
    }
    if (state === 'active' || state === undefined) {
      const which = state === 'active' ? `${newKid} is active and not known good` : `the keys' states could not be read (${unread})`;
      const notPaused = await attempt('pausing issuance', pauseIssuance(why));
      return { outcome: 'failed', reason: notPaused === undefined ? `${told}; ${which}: issuance paused` : `${told}; ${which}, and issuance could not be paused (${notPaused})` };
    }
    return { outcome: 'failed', reason: `${told}; ${newKid} is ${state}` };
  };

  /** `newKeyHealthy`: the new key passed its canary and nobody asked to roll back (only a later step failed). */
  const compensate = async (why: string, newKeyHealthy = false): Promise<RunResult> => {
    phase('compensating', why);
    const kids = { newKid, ...(previousKid ? { previousKid } : {}) };
    if (!patched(ROLLBACK_BY_KEY_STATES_PATCH)) {
      await CancellationScope.nonCancellable(() => compensateByFlag(why));
      return finish('rolled_back', { reason: why, ...kids });
    }
    const end = await CancellationScope.nonCancellable(() => rollBack(why, newKeyHealthy));
    return finish(end.outcome, { reason: end.reason, ...kids });
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
    canaryPassed = true;

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
    return compensate(`step failed: ${failureReason(e)}`, canaryPassed);
  }
  return finish('completed', { newKid, ...(previousKid ? { previousKid } : {}), ...(completedNote ? { reason: completedNote } : {}) });
}
