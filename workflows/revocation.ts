import { display } from './display.js';
import { tellRecording } from './notify.js';
import { failureReason } from './failure.js';
import { CancellationScope, isCancellation, log, patched, proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { AuditorActivities } from '../activities/auditor.js';
import type { KeyManagerActivities } from '../activities/key-manager.js';
import type { RevocationActivities, RevocationPlan, RevocationRequest } from '../activities/revocation.js';
import type { TokenIssuerActivities } from '../activities/token-issuer.js';
import type { ValidatorActivities } from '../activities/validator.js';
import { statusQuery } from './rotation.js';
import { renderCurrentDetails } from './current-details.js';
import { SignOffGate } from './sign-off.js';
import { pinnedApprovals, type RecordedVote, type RunStatus } from './types.js';
import { isUnboundResult } from './interceptors.js';
import { tallyDeliveries, totalNotices as total, type Notices } from './notice-tally.js';

export type { RevocationRequest };

export interface RevocationResult {
  outcome: 'revoked' | 'false_alarm' | 'failed';
  planHash?: string;
  reason?: string;
  issuer?: string;
  newKid?: string;
  deniedTokens?: number;
  refusedWith?: string;
  /** Subscriber notices (see Notices). */
  notices?: Notices;
  /** A false alarm only: other open revocations of the same target still hold its containment, which stays. */
  containmentKeptFor?: string[];
  /** A false alarm whose deny-list entry was confirmed meanwhile by someone else: it stands (its revocation id). */
  confirmedElsewhere?: string;
  approvals: RecordedVote[];
  auditSeqRange: [number, number] | null;
}

/** Behind this patch a run whose notice subscribers cannot be read goes on (before, it failed, or stopped taking sign-off). */
const NOTICES_NEVER_REJECT_PATCH = 'notices-never-reject';
/** Behind this patch a failed run waits for the notices it started (Temporal drops an activity of a closed run) and reports them. */
const AWAIT_NOTICES_ON_FAILURE_PATCH = 'await-notices-on-failure';
/**
 * Behind this patch an approved kid revocation acts on the key's state at approval, not at planning:
 * it replaces the key only while it is still the issuer's active key (the activation names it), and
 * otherwise revokes it directly, replacing or revoking no other key. Before, a key a rotation had
 * replaced meanwhile was "replaced" by revoking the rotation's healthy key in its place.
 */
const KEY_STATE_AT_APPROVAL_PATCH = 'revocation-key-state-at-approval';

const retryable = { startToCloseTimeout: '1 minute', retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 20 } } as const;
const responder = proxyActivities<RevocationActivities>(retryable);
const keyManager = proxyActivities<KeyManagerActivities>(retryable);
const tokenIssuer = proxyActivities<TokenIssuerActivities>(retryable);
const validator = proxyActivities<ValidatorActivities>({ startToCloseTimeout: '30 seconds', retry: { initialInterval: '200 milliseconds', backoffCoefficient: 1.5, maximumInterval: '5 seconds', maximumAttempts: 30 } });
const webhooks = proxyActivities<RevocationActivities>({ startToCloseTimeout: '10 seconds', retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 6 } });
const auditor = proxyActivities<AuditorActivities>(retryable);

/**
 * A revocation: contain at once (before any sign-off), then on approval make it permanent (for a
 * compromised key: an emergency rotation with no pre-publication wait, every token under the kid
 * deny-listed until its own expiry, issuance resumed on the new key), tell subscribers, and confirm
 * a relying party now refuses. A rejection is a false alarm: containment is lifted. Past the approval
 * deadline the containment holds (fail closed) and escalation continues.
 */
export async function revocationWorkflow(input: RevocationRequest): Promise<RevocationResult> {
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
  const event = (type: string, facts: Record<string, unknown> = {}) =>
    notice(`RevocationResponder → approvers: ${type.replace('run.', 'revocation ')}`, { type, kind: 'revocation', workflowId: workflowInfo().workflowId, runId: workflowInfo().runId, subject: `${input.kind} ${input.value}`, urgent: true, ...(status.planHash ? { planHash: status.planHash } : {}), ...facts });
  /** Set once sign-off is asked for: the run's end records the decision signals it left unhandled. */
  let signOffGate: SignOffGate | undefined = undefined;
  const finish = async (outcome: RevocationResult['outcome'], extra: Partial<RevocationResult> = {}): Promise<RevocationResult> => {
    phase(outcome, extra.reason);
    upsertSearchAttributes({ KeyturnOutcome: [outcome] });
    await CancellationScope.nonCancellable(async () => {
      track(await auditor.recordHandoff.executeWithOptions({ summary: display(`Orchestrator → Auditor: record revocation ${outcome}`) }, [{ from: 'Orchestrator', to: 'Auditor', action: `revocation.${outcome}`, subject: { [input.kind]: input.value }, policyVersion: status.policyVersion ?? 'unknown', outcome: outcome === 'failed' ? 'failed' : 'ok', details: { reason: extra.reason ?? null, newKid: extra.newKid ?? null, ...(extra.notices ? { notices: extra.notices } : {}), ...(extra.containmentKeptFor ? { containmentKeptFor: extra.containmentKeptFor } : {}), ...(extra.confirmedElsewhere ? { confirmedElsewhere: extra.confirmedElsewhere } : {}) } }]));
      await event(`run.${outcome === 'revoked' ? 'completed' : outcome === 'false_alarm' ? 'rejected' : 'failed'}`, { reason: extra.reason ?? null });
      if (signOffGate) track(await signOffGate.recordUnhandled(outcome));
    });
    // The result is display (clear in the Web UI): public facts only, never key material or the plan.
    return display({ outcome, ...(status.planHash ? { planHash: status.planHash } : {}), approvals: status.approvals, auditSeqRange: seqs.length ? [Math.min(...seqs), Math.max(...seqs)] : null, ...extra });
  };

  upsertSearchAttributes({ KeyturnRequester: [input.requester], ...(input.kind === 'kid' ? { KeyturnKid: [input.value] } : {}) });
  let plan: RevocationPlan;
  try {
    // A token (jti, sub) is planned and contained in one step: refused one round trip sooner.
    plan = input.kind === 'kid'
      ? track(await responder.planRevocation.executeWithOptions({ summary: display(`Orchestrator → Planner: plan revocation of ${input.kind} ${input.value}`) }, [input]))
      : track(await responder.planAndContainToken.executeWithOptions({ summary: display(`Orchestrator → Planner → RevocationResponder: plan, then deny-list ${input.kind} ${input.value} at once`) }, [{ ...input, kind: input.kind }]));
  } catch (e) {
    return finish('failed', { reason: `${input.kind === 'kid' ? 'planning' : 'planning or containment'} refused: ${failureReason(e)}` });
  }
  Object.assign(status, { planHash: plan.planHash, policyVersion: plan.policyVersion, quorum: plan.approvals.quorum, signOff: pinnedApprovals(plan.approvals) });
  upsertSearchAttributes({ KeyturnIssuer: [plan.issuer] });
  const common = { reason: input.reason, policyVersion: plan.policyVersion };

  // 1. Contain at once, before anyone signs off.
  phase('containing');
  let containedActiveKey = false;
  let canary: string | undefined;
  if (input.kind === 'kid') {
    if (plan.keyState === 'active') {
      // A token signed by the suspect key, to prove later that relying parties refuse it.
      canary = track(await tokenIssuer.issueCanary.executeWithOptions({ summary: display(`KeyManager → TokenIssuer: canary signed by suspect key ${input.value.slice(0, 12)}…`) }, [{ issuer: plan.issuer, step: 'revocation-probe' }])).token;
    }
    const c = track(await responder.containKey.executeWithOptions({ summary: display(`RevocationResponder: contain ${input.value.slice(0, 12)}… (deny-list, halt issuance if active)`) }, [{ issuer: plan.issuer, kid: input.value, ...common }]));
    containedActiveKey = c.pausedIssuance || c.keyState === 'active';
  }
  await event('run.contained', { issuer: plan.issuer, issuanceHalted: containedActiveKey });
  // Subscribers are told in the background: a slow or dead one never delays the revocation itself.
  const deliveries: Array<Promise<{ delivered: number; failed: number }>> = [notifyAll('revocation.contained')];

  // 2. Sign-off: urgent, to the approvers and the escalation group.
  phase('awaiting_sign_off', `Contained. ${input.kind} ${input.value} on ${plan.issuer}: ${input.reason}`);
  const gate = new SignOffGate({
    kind: 'revocation', subject: plan.issuer, planHash: plan.planHash, requester: input.requester, policyVersion: plan.policyVersion,
    approvals: plan.approvals, urgent: true, holdPastDeadline: true, tell: notice,
    summary: { issuer: plan.issuer, target: `${input.kind} ${input.value}`, reason: input.reason, requester: input.requester, contained: true, issuanceHalted: containedActiveKey },
    onChange: () => {
      if (gate.state.deadline) status.deadlines.approval = gate.state.deadline;
      render();
    },
  });
  status.approvals = gate.state.votes;
  signOffGate = gate;
  const decision = await gate.await();
  seqs.push(...decision.auditSeqs);

  if (decision.decided === 'rejected') {
    phase('lifting', 'False alarm: lifting the containment');
    const lift = track(await responder.liftContainment.executeWithOptions({ summary: display('RevocationResponder: false alarm, lift containment and resume issuance') }, [{ kind: input.kind, value: input.value, issuer: plan.issuer, ...(input.before ? { before: input.before } : {}), ...common }]));
    // Another open revocation of the same target still holds the containment: nothing was lifted, so nobody is told it was.
    const keptFor = 'keptFor' in lift && Array.isArray(lift.keptFor) ? lift.keptFor : undefined;
    // Confirmed meanwhile by someone else (the token's owner, another run): it stands, and nobody is told it was lifted.
    const confirmedRevocationId = 'confirmedRevocationId' in lift && typeof lift.confirmedRevocationId === 'string' ? lift.confirmedRevocationId : undefined;
    if (!keptFor && !confirmedRevocationId) deliveries.push(notifyAll('revocation.lifted'));
    return finish('false_alarm', {
      reason: decision.rejectionReason ?? 'rejected', issuer: plan.issuer, notices: total(await Promise.all(deliveries)),
      ...(keptFor ? { containmentKeptFor: keptFor } : {}), ...(confirmedRevocationId ? { confirmedElsewhere: confirmedRevocationId } : {}),
    });
  }

  // 3. Approved: make it permanent.
  phase('revoking');
  let newKid: string | undefined;
  let deniedTokens: number | undefined;
  if (input.kind === 'kid') {
    const atApproval = patched(KEY_STATE_AT_APPROVAL_PATCH);
    if (atApproval) {
      newKid = await replaceOrRevokeKey();
    } else if (plan.keyState === 'active') {
      const generated = track(await keyManager.generateKey.executeWithOptions({ summary: display(`Security lead → KeyManager: emergency ${plan.newKey.alg} key for ${plan.issuer} (no pre-publication wait)`) }, [{ issuer: plan.issuer, plan: { newKey: plan.newKey, policyVersion: plan.policyVersion } }]));
      newKid = generated.kid;
      track(await keyManager.activateKey.executeWithOptions({ summary: display(`KeyManager: activate ${newKid.slice(0, 12)}… at once, compromised key to revoked`) }, [{ issuer: plan.issuer, kid: newKid, policyVersion: plan.policyVersion, previousTo: 'revoked' }]));
    } else if (plan.keyState && plan.keyState !== 'revoked') {
      track(await keyManager.revokeKey.executeWithOptions({ summary: display(`KeyManager: revoke ${input.value.slice(0, 12)}… and withdraw it from the JWKS`) }, [{ kid: input.value, reason: input.reason, policyVersion: plan.policyVersion }]));
    }
    deniedTokens = track(await responder.denyCompromisedKey.executeWithOptions({ summary: display(`RevocationResponder: deny-list ${input.value.slice(0, 12)}… and every token issued under it until its expiry`) }, [{ issuer: plan.issuer, kid: input.value, kidExpiresAt: plan.expiresAt, confirmedAt: new Date().toISOString(), ...common }])).deniedTokens;
    // Resumes only a pause this key's containment wrote, and only once a key other than it is active.
    if (containedActiveKey || (atApproval && newKid)) {
      track(await responder.releaseIssuance.executeWithOptions({ summary: display(`RevocationResponder → TokenIssuer: resume issuance for ${plan.issuer} with the new key`) }, [{ issuer: plan.issuer, compromisedKid: input.value, ...common }]));
    }
  } else {
    track(await responder.confirmTokenRevocation.executeWithOptions({ summary: display(`RevocationResponder: make the ${input.kind} revocation permanent`) }, [{ kind: input.kind, value: input.value, ...(input.before ? { before: input.before } : {}), expiresAt: plan.expiresAt, ...common }]));
  }
  deliveries.push(notifyAll('revocation.confirmed'));

  // 4. Confirm: a relying party's validator now refuses a token signed with the revoked key.
  let refusedWith: string | undefined;
  if (canary) {
    phase('confirming');
    try {
      refusedWith = track(await validator.confirmRefused.executeWithOptions({ summary: display('RevocationResponder → Validator: confirm a token under the revoked key is refused') }, [{ issuer: plan.issuer, token: canary, policyVersion: plan.policyVersion }])).code;
    } catch (e) {
      log.error('revocation not confirmed by a validator', { error: failureReason(e) });
      const why = isUnboundResult(e) ? 'the confirmation got no answer of its own' : 'a validator still accepted a token under it';
      const notices = patched(AWAIT_NOTICES_ON_FAILURE_PATCH) ? total(await Promise.all(deliveries)) : undefined;
      return finish('failed', { reason: `revoked, but ${why}: ${failureReason(e)}`, issuer: plan.issuer, ...(newKid ? { newKid } : {}), ...(notices ? { notices } : {}) });
    }
  }
  const notices = total(await Promise.all(deliveries));
  return finish('revoked', { issuer: plan.issuer, ...(newKid ? { newKid } : {}), ...(deniedTokens !== undefined ? { deniedTokens } : {}), ...(refusedWith ? { refusedWith } : {}), notices });

  /**
   * The compromised key as it is now that the revocation is approved. Still the active key: an
   * emergency key replaces it at once (no pre-publication wait), the activation naming it, so a key
   * that became active meanwhile is never the one revoked. Otherwise (a rotation replaced it while the
   * run waited, or it was never active) it is revoked directly and no other key is touched; an
   * emergency key generated for an activation that was refused is marked failed. Returns the
   * emergency key's kid when it became active.
   */
  async function replaceOrRevokeKey(): Promise<string | undefined> {
    const kid = input.value;
    const short = `${kid.slice(0, 12)}…`;
    const statesOf = async (kids: string[], why: string) =>
      (await keyManager.readKeyStates.executeWithOptions({ summary: display(`KeyManager: state of ${kids.map((k) => `${k.slice(0, 12)}…`).join(', ')} ${why}`) }, [{ kids }])).states;
    let state = (await statesOf([kid], 'now that its revocation is approved'))[kid];
    if (state === 'active') {
      const generated = track(await keyManager.generateKey.executeWithOptions({ summary: display(`Security lead → KeyManager: emergency ${plan.newKey.alg} key for ${plan.issuer} (no pre-publication wait)`) }, [{ issuer: plan.issuer, plan: { newKey: plan.newKey, policyVersion: plan.policyVersion } }]));
      try {
        track(await keyManager.activateKey.executeWithOptions({ summary: display(`KeyManager: activate ${generated.kid.slice(0, 12)}… at once if ${short} is still active, ${short} to revoked`) }, [{ issuer: plan.issuer, kid: generated.kid, policyVersion: plan.policyVersion, previousTo: 'revoked', expectedPreviousKid: kid }]));
        return generated.kid;
      } catch (e) {
        if (isCancellation(e)) throw e;
        // Refused (KEY_ACTIVE_CHANGED: another key became active meanwhile) or failed: the keys as they are now decide.
        const now = await statesOf([kid, generated.kid], 'after the emergency activation failed');
        if (now[generated.kid] === 'active') return generated.kid;
        if (now[kid] === 'active') throw e;
        log.warn('the compromised key was no longer active: it is revoked directly, the emergency key is not used', { kid, error: failureReason(e) });
        state = now[kid];
        if (now[generated.kid] === 'pending') {
          track(await keyManager.markKeyFailed.executeWithOptions({ summary: display(`KeyManager: emergency key ${generated.kid.slice(0, 12)}… not needed (${short} no longer active), to failed`) }, [{ kid: generated.kid, reason: `not activated: ${kid} was no longer the active key when its revocation was approved`, policyVersion: plan.policyVersion }]));
        }
      }
    }
    // Never an active key here: revoking it would leave the issuer without one.
    if (state === 'pending' || state === 'retiring' || state === 'retired') {
      track(await keyManager.revokeKey.executeWithOptions({ summary: display(`KeyManager: revoke ${short} and withdraw it from the JWKS`) }, [{ kid, reason: input.reason, policyVersion: plan.policyVersion }]));
    }
    return undefined;
  }

  /**
   * Signed notices to every subscriber, each delivery retried on its own; a subscriber that stays
   * down is reported, not fatal, and the worker resends what it is owed later. Never rejects: it runs unawaited while the run waits for sign-off,
   * where a rejection would fail every workflow task of the run and stop it taking sign-off.
   */
  async function notifyAll(event: 'revocation.contained' | 'revocation.confirmed' | 'revocation.lifted'): Promise<Notices> {
    let ids: string[];
    try {
      ids = await responder.listNoticeSubscribers.executeWithOptions({ summary: display(`RevocationResponder: who subscribes to ${event}`) }, []);
    } catch (e) {
      // A run that failed on this before (where it was awaited) replays as it ran.
      if (isCancellation(e) || !patched(NOTICES_NEVER_REJECT_PATCH)) throw e;
      log.error('the notice subscribers could not be read: nobody is told of this event', { event, error: failureReason(e) });
      return { delivered: 0, failed: 0, unlisted: 1 };
    }
    const results = await Promise.allSettled(ids.map((subscriberId) =>
      webhooks.deliverNotice.executeWithOptions({ summary: display(`RevocationResponder → subscriber ${subscriberId}: ${event}`) }, [{ subscriberId, event, kind: input.kind, value: input.value, ...(input.before ? { before: input.before } : {}), issuer: plan.issuer, noticeId: `${workflowInfo().workflowId}:${event}`, revokedAt: new Date().toISOString() }])));
    return tallyDeliveries(results);
  }
}

