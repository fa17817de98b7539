import { display } from './display.js';
import type { Tell } from './notify.js';
import { condition, defineSignal, isCancellation, log, patched, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { AuditorActivities } from '../activities/auditor.js';
import type { SignOffActivities } from '../activities/sign-off.js';
import { failureReason } from './failure.js';
import { isUnboundResult } from './interceptors.js';
import { RESULT_BINDING_PATCH } from './result-binding.js';
import type { ApprovalPolicy } from '../activities/sign-off.js';
import { summarise } from './summaries.js';
import type { RecordedVote } from './types.js';

/** Every decision signal carries an attestation signed by the approval channel's own key. */
export interface DecisionSignal {
  attestation: string;
}

export const approveSignal = defineSignal<[DecisionSignal]>('approve');
export const rejectSignal = defineSignal<[DecisionSignal]>('reject');
export const rollbackSignal = defineSignal<[DecisionSignal]>('rollback');

/**
 * Retried until it answers: a check that fails for a while (PostgreSQL down) holds the decision
 * instead of failing the run, which would leave a contained revocation with no run to finish it.
 */
const signOff = proxyActivities<SignOffActivities>({ startToCloseTimeout: '30 seconds', retry: { initialInterval: '1 second', maximumInterval: '30 seconds' } });
const auditor = proxyActivities<AuditorActivities>({ startToCloseTimeout: '1 minute', retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20 } });

export interface SignOffRequest {
  kind: 'rotation' | 'revocation' | 'policy';
  subject: string;
  planHash: string;
  requester: string;
  policyVersion: string;
  approvals: ApprovalPolicy;
  /** Shown to approvers: issuer, kids, timeline, diff… (no secrets). */
  summary: Record<string, unknown>;
  urgent?: boolean;
  /** Called when the deadline is set and when a vote or rollback counts: the run refreshes its current details. */
  onChange?: () => void;
  /** Past the deadline, keep waiting and escalate every interval instead of expiring (a contained revocation). */
  holdPastDeadline?: boolean;
  /** How the gate tells people: the run's own, which records undelivered notices. */
  tell: Tell;
}

export interface SignOffState {
  votes: RecordedVote[];
  decided: 'approved' | 'rejected' | 'expired' | undefined;
  deadline?: string;
  rejectionReason?: string;
  rollbackRequested?: { by: string; reason?: string };
  /** The deadline passed while the gate holds (holdPastDeadline). */
  overdue?: boolean;
  auditSeqs: number[];
}

/** A signal whose check got no answer of its own is checked again after 5 s, doubling up to 5 min. */
const UNANSWERED_CHECK_PAUSE_SECONDS = 5;
const UNANSWERED_CHECK_MAX_PAUSE_SECONDS = 300;
/** The answer's own text is kept to this length in the audit log: someone else may have written it. */
const UNANSWERED_REASON_CHARS = 200;
/** Signals still queued when a run ends are recorded (histories from before dropped them unrecorded). */
const RECORD_UNHANDLED_PATCH = 'record-signals-unhandled-at-end';
/** One entry names at most this many of them (and counts them all): whoever can signal does not fill the audit log. */
const UNHANDLED_LISTED = 20;
/** Signals that keep arriving while the entry is written get at most this many entries in all, so they cannot keep the run open. */
const UNHANDLED_ROUNDS = 3;

/** A decision signal as it arrived; `receivedAt` is the workflow's time then (ms), which its check judges expiry by. */
type Pending = { decision: 'approve' | 'reject' | 'rollback'; attestation: string; receivedAt: number; unanswered?: number };

/**
 * The sign-off gate shared by rotations, revocations and policy changes. Signals are only
 * queued by their handlers; each is checked by an activity (attestation, policy allow-list, no
 * self-approval, one vote per person) before it counts. The first terminal decision wins.
 */
export class SignOffGate {
  readonly state: SignOffState = { votes: [], decided: undefined, auditSeqs: [] };
  private readonly queue: Pending[] = [];

  constructor(private readonly request: SignOffRequest) {
    const enqueue = (decision: Pending['decision']) => (s: DecisionSignal) => {
      this.queue.push({ decision, attestation: typeof s?.attestation === 'string' ? s.attestation : '', receivedAt: Date.now() });
    };
    setHandler(approveSignal, enqueue('approve'));
    setHandler(rejectSignal, enqueue('reject'));
    setHandler(rollbackSignal, enqueue('rollback'));
  }

  /** Asks for sign-off and waits for quorum, a rejection, or the policy's timeout. */
  async await(): Promise<SignOffState> {
    const { approvals } = this.request;
    const started = Date.now();
    const deadline = started + approvals.timeoutSeconds * 1000;
    const interval = Math.max(1, approvals.escalationIntervalSeconds) * 1000;
    this.state.deadline = new Date(deadline).toISOString();
    this.request.onChange?.();
    await this.request.tell(summarise.requestSignOff(this.request), { type: 'signoff.requested', ...this.event(), deadline: this.state.deadline });

    let nextReminder = started + interval;
    let escalated = false;
    while (!this.state.decided) {
      const now = Date.now();
      if (now >= deadline && !this.request.holdPastDeadline) {
        this.state.decided = 'expired';
        break;
      }
      if (now >= deadline && !this.state.overdue) {
        this.state.overdue = true;
        nextReminder = now;
      }
      const wake = this.state.overdue ? nextReminder : Math.min(deadline, nextReminder);
      const woke = await condition(() => this.queue.length > 0, Math.max(1, wake - now), { summary: display(`waiting for ${approvals.quorum} approval(s) until ${this.state.deadline}`) });
      if (woke) {
        await this.drain('signoff');
        continue;
      }
      if (Date.now() >= nextReminder && (Date.now() < deadline || this.state.overdue)) {
        const escalate: boolean = this.state.overdue === true || (!escalated && deadline - Date.now() <= interval);
        escalated ||= escalate;
        await this.request.tell(escalate ? 'Orchestrator → escalation channel: sign-off deadline near' : 'Orchestrator → approvers: reminder', { type: escalate ? 'signoff.escalated' : 'signoff.reminder', ...this.event(), deadline: this.state.deadline, overdue: this.state.overdue ?? false });
        nextReminder += interval;
      }
    }
    return this.state;
  }

  /**
   * Handles queued signals after the gate: only attested rollbacks matter then. `receivedBy`: only
   * the signals received by then (workflow time, ms); the queue is in order of arrival.
   */
  async drain(phase: 'signoff' | 'after', receivedBy = Infinity): Promise<void> {
    while (this.queue.length > 0 && this.queue[0]!.receivedAt <= receivedBy) {
      const next = this.queue.shift()!;
      const info = workflowInfo();
      const checked = await this.checkOrRequeue(next, () => signOff.checkDecision.executeWithOptions({ summary: display(`${next.decision} signal → Auditor: check its attestation and the approval policy`) }, [{
        attestation: next.attestation,
        signalName: next.decision,
        workflowId: info.workflowId,
        runId: info.runId,
        planHash: this.request.planHash,
        requester: this.request.requester,
        policyVersion: this.request.policyVersion,
        approvals: this.request.approvals,
        votes: this.state.votes,
        decided: phase === 'after' || this.state.decided !== undefined,
        kind: this.request.kind,
        subject: this.request.subject,
        receivedAt: new Date(next.receivedAt).toISOString(),
      }]));
      // Not checked: the signal is queued again, and the caller's loop, which watches its deadline, comes back.
      if (!checked) return;
      this.track(checked);
      if (!checked.accepted || !checked.vote) continue;
      if (checked.vote.decision === 'rollback') {
        this.state.rollbackRequested ??= { by: checked.vote.approver, ...(checked.vote.reason ? { reason: checked.vote.reason } : {}) };
        this.request.onChange?.();
        continue;
      }
      if (phase === 'after') continue;
      const vote: RecordedVote = { ...checked.vote, decision: checked.vote.decision };
      this.state.votes.push(vote);
      if (vote.decision === 'reject') {
        this.state.decided = 'rejected';
        this.state.rejectionReason = vote.reason ?? 'rejected';
      } else if (this.quorumReached(checked.standing)) {
        this.state.decided = 'approved';
      }
      this.request.onChange?.();
      await this.request.tell(`Orchestrator → approvers: ${vote.approver} ${vote.decision === 'approve' ? 'approved' : 'rejected'}`, { type: 'signoff.vote', ...this.event(), votes: this.state.votes, quorum: this.request.approvals.quorum, decided: this.state.decided ?? null });
    }
  }

  /**
   * A check that got no answer of its own (a result not bound to it, copied from another run, or a
   * failure no retry cured) decides nothing, and neither drops the signal: it goes back to the head
   * of the queue and is checked again after a pause (5 s, doubling up to 5 min), so whoever answers
   * checks in the namespace can hold a decision back until the caller's deadline, but not make it.
   * The first three such checks of a signal are recorded, then every tenth, as far as the Auditor
   * can be reached.
   */
  private async checkOrRequeue<T>(signal: Pending, check: () => Promise<T>): Promise<T | undefined> {
    try {
      return await check();
    } catch (e) {
      // Histories from before kept the old way: a failed check failed the run.
      if (isCancellation(e) || !patched(RESULT_BINDING_PATCH)) throw e;
      const attempt = (signal.unanswered ?? 0) + 1;
      const pause = Math.min(UNANSWERED_CHECK_PAUSE_SECONDS * 2 ** (attempt - 1), UNANSWERED_CHECK_MAX_PAUSE_SECONDS);
      const unbound = isUnboundResult(e);
      const reason = failureReason(e).slice(0, UNANSWERED_REASON_CHARS);
      log.error('a sign-off check got no answer of its own; its signal waits for another check', { decision: signal.decision, attempt, unbound, error: reason });
      // The first few, then every tenth: an answerer who never stops does not fill the audit log.
      if (attempt <= 3 || attempt % 10 === 0) await this.recordUnanswered(signal, { attempt, pause, unbound, reason });
      this.queue.unshift({ ...signal, unanswered: attempt });
      await sleep(pause * 1000);
      return undefined;
    }
  }

  private async recordUnanswered(signal: Pending, details: { attempt: number; pause: number; unbound: boolean; reason: string }): Promise<void> {
    await this.recordRefused(`${signal.decision} signal → Auditor: its check got no answer of its own; checked again in ${details.pause}s`, 'signoff.check_unanswered', { decision: signal.decision, planHash: this.request.planHash, ...details }, 'the unanswered sign-off check');
  }

  /** One Orchestrator → Auditor entry about signals that decided nothing; best effort: a failure to record is logged. Its audit seqs, if written. */
  private async recordRefused(summary: string, action: string, details: Record<string, unknown>, what: string): Promise<number[]> {
    try {
      const recorded = await auditor.recordHandoff.executeWithOptions({ summary: display(summary) }, [{ from: 'Orchestrator', to: 'Auditor', action, subject: { [this.request.kind]: this.request.subject }, policyVersion: this.request.policyVersion, outcome: 'refused', details }]);
      this.track(recorded);
      return recorded.auditSeqs;
    } catch (recordError) {
      if (isCancellation(recordError)) throw recordError;
      log.error(`${what} could not be recorded`, { error: failureReason(recordError).slice(0, UNANSWERED_REASON_CHARS) });
      return [];
    }
  }

  /**
   * At the run's end: signals still queued decided nothing (received after the run's last wait, or
   * their check never got an answer of its own). An audit entry lists them, unchecked, so a rollback
   * sent too late is seen rather than silently dropped: all counted by decision, the rollbacks listed
   * first, then the latest others. Signals that arrive while it is written get another entry, up to
   * three in all; any after that are only logged. Best effort, like every notice.
   */
  async recordUnhandled(runOutcome: string): Promise<{ auditSeqs: number[] }> {
    const auditSeqs: number[] = [];
    for (let round = 0; this.queue.length > 0; round++) {
      if (!patched(RECORD_UNHANDLED_PATCH)) break;
      const left = this.queue.splice(0);
      if (round === UNHANDLED_ROUNDS) {
        log.warn('decision signals kept arriving as the run ended; these are not recorded', { runOutcome, count: left.length, counts: countByDecision(left) });
        break;
      }
      const counts = countByDecision(left);
      const listed = [...left.filter((x) => x.decision === 'rollback'), ...left.filter((x) => x.decision !== 'rollback').reverse()].slice(0, UNHANDLED_LISTED);
      const signals = listed.map((x) => ({ decision: x.decision, receivedAt: new Date(x.receivedAt).toISOString(), ...(x.unanswered ? { uncheckedAfterAttempts: x.unanswered } : {}) }));
      const unanswered = left.filter((x) => x.unanswered).length;
      const why = unanswered === left.length ? 'their checks got no answer of their own' : unanswered ? 'received too late to be taken up, or their checks got no answer of their own' : 'received too late to be taken up';
      log.warn('decision signals decided nothing and are recorded unchecked', { runOutcome, count: left.length, why });
      auditSeqs.push(...(await this.recordRefused(`${left.length} decision signal(s) → Auditor: ${why}; recorded unchecked`, 'signoff.signals_unhandled', { planHash: this.request.planHash, runOutcome, count: left.length, counts, signals, why, note: 'decided nothing: not checked, not acted on' }, 'the unhandled decision signals')));
    }
    return { auditSeqs };
  }

  /**
   * The Auditor's tally decides (it knows the per-issuer groups of a policy change). Without one (a
   * history from before it reported one, or a worker not yet upgraded), runs without groups count
   * approvers as they always did; a run with groups waits for a vote an Auditor that knows them counts.
   */
  private quorumReached(standing: 'approved' | 'rejected' | 'pending' | undefined): boolean {
    if (standing !== undefined) return standing === 'approved';
    if (this.request.approvals.groups?.length) return false;
    return new Set(this.state.votes.filter((v) => v.decision === 'approve').map((v) => v.approver)).size >= this.request.approvals.quorum;
  }

  /** Whether a signal waits for its check; with `receivedBy`, one received by then (workflow time, ms). */
  hasQueued(receivedBy = Infinity): boolean {
    // The head, as drain() reads it: the queue is in order of arrival.
    return this.queue.length > 0 && this.queue[0]!.receivedAt <= receivedBy;
  }

  private event() {
    const info = workflowInfo();
    return { kind: this.request.kind, workflowId: info.workflowId, runId: info.runId, planHash: this.request.planHash, requester: this.request.requester, subject: this.request.subject, urgent: this.request.urgent ?? false, summary: this.request.summary, approvals: { quorum: this.request.approvals.quorum, ...(this.request.approvals.groups ? { groups: this.request.approvals.groups.map((g) => ({ label: g.label, quorum: g.quorum })) } : {}), slackChannel: this.request.approvals.slackChannel ?? null, escalationChannel: this.request.approvals.escalationChannel ?? null, escalationGroup: this.request.approvals.escalationGroup ?? null } };
  }

  private track(r: { auditSeqs?: number[] } | undefined): void {
    if (r?.auditSeqs) this.state.auditSeqs.push(...r.auditSeqs);
  }
}

function countByDecision(signals: Pending[]): Record<Pending['decision'], number> {
  const counts = { approve: 0, reject: 0, rollback: 0 };
  for (const signal of signals) counts[signal.decision]++;
  return counts;
}
