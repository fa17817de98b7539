import { display } from './display.js';
import type { Tell } from './notify.js';
import { CancellationScope, condition, defineSignal, isCancellation, log, patched, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
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

/**
 * The gate's wait keeps to its deadline however many signals come (histories from before checked
 * every queued signal before looking at the clock again): signals received after the deadline are not
 * checked, and reminders and escalations fall due while signals are being checked.
 */
const DEADLINE_PATCH = 'signoff-checks-bounded-by-deadline';
/** Refused decision signals past the per-run budget below are counted into a summary entry (histories from before audited each). */
const REFUSAL_BUDGET_PATCH = 'signoff-refusal-audit-budget';
/** Refused decision signals of one run audited one entry each (`approval.ignored`); the rest are counted, not listed. */
const IGNORED_LISTED = 20;
/** Past the budget, a summary entry once this many refusals have been counted (and whatever is left when the gate closes and when the run ends). */
const IGNORED_SUMMARY_EVERY = 500;
/** Approvers named in a summary entry (each with a count); the others are only counted. */
const IGNORED_SUMMARY_NAMES = 20;
/** The verifier refuses an attestation longer than this (agents/approvals/channel-jws.ts). */
const ATTESTATION_MAX_CHARS = 4096;
/** A compact JWS has three non-empty parts (base64url has no dot); every attestation the channels sign has this shape. */
const JWS_SHAPE = /^[^.]+\.[^.]+\.[^.]+$/;

/** A decision signal as it arrived; `receivedAt` is the workflow's time then (ms), which its check judges expiry by. */
type Pending = { decision: 'approve' | 'reject' | 'rollback'; attestation: string; receivedAt: number; unanswered?: number };

/** Refused decision signals past the audit budget, counted for the next summary entry. */
interface Suppressed {
  count: number;
  bySignal: Record<Pending['decision'], number>;
  byRefusal: Record<string, number>;
  /** Approvers whose attested votes were refused (at most IGNORED_SUMMARY_NAMES), with counts. */
  approvers: Record<string, number>;
  moreApprovers: number;
  /** Workflow time (ms) the first and last of them were received. */
  from: number;
  to: number;
  /** The count at which the next summary entry is written (later again after one that could not be). */
  writeAt: number;
}

/**
 * The sign-off gate shared by rotations, revocations and policy changes. Signals are only
 * queued by their handlers; each is checked by an activity (attestation, policy allow-list, no
 * self-approval, one vote per person) before it counts. The first terminal decision wins.
 */
export class SignOffGate {
  readonly state: SignOffState = { votes: [], decided: undefined, auditSeqs: [] };
  private readonly queue: Pending[] = [];
  /** Once true, the run keeps to its deadline (DEADLINE_PATCH): a run that reached live execution on this code. */
  private bounded = false;
  /** Refusals of this run audited one entry each, against IGNORED_LISTED. */
  private ignoredListed = 0;
  private suppressed: Suppressed | undefined;

  constructor(private readonly request: SignOffRequest) {
    const enqueue = (decision: Pending['decision']) => (s: DecisionSignal) => {
      this.queue.push({ decision, attestation: typeof s?.attestation === 'string' ? s.attestation : '', receivedAt: Date.now() });
    };
    setHandler(approveSignal, enqueue('approve'));
    setHandler(rejectSignal, enqueue('reject'));
    setHandler(rollbackSignal, enqueue('rollback'));
  }

  /**
   * Asks for sign-off and waits for quorum, a rejection, or the policy's timeout.
   *
   * The deadline is the workflow's clock, and a vote's time is when its signal reached the run
   * (`receivedAt`, which its check also judges the attestation's expiry by): a signal received by the
   * deadline is checked even when its turn comes after it (checks queue one after another, and a
   * database outage holds one back), so a vote cast in time is not lost behind others; a signal
   * received after the deadline is not checked at all and decides nothing (the run's end records it
   * unchecked, see recordUnhandled). Past the deadline each signal received in time is checked once:
   * one whose check got no answer of its own is not checked again, and the gate expires. A gate that
   * holds past its deadline (holdPastDeadline) checks every signal, as it waits for any decision.
   * Checking signals never holds back a reminder or escalation that falls due.
   */
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
    const alarm = new Alarm();
    const remind = async () => {
      const escalate: boolean = this.state.overdue === true || (!escalated && deadline - Date.now() <= interval);
      escalated ||= escalate;
      await this.request.tell(escalate ? 'Orchestrator → escalation channel: sign-off deadline near' : 'Orchestrator → approvers: reminder', { type: escalate ? 'signoff.escalated' : 'signoff.reminder', ...this.event(), deadline: this.state.deadline, overdue: this.state.overdue ?? false });
      nextReminder += interval;
    };
    while (!this.state.decided) {
      const now = Date.now();
      // Asked at every turn of the loop: a run waiting here when this code was deployed keeps to its deadline from its next turn.
      if (!this.bounded) this.bounded = patched(DEADLINE_PATCH);
      if (this.bounded) {
        if (now >= deadline && !this.request.holdPastDeadline) {
          // Signals received in time, each checked once; then the gate expires.
          if (this.queue.length > 0 && !this.queue[0]!.unanswered && this.queue[0]!.receivedAt <= deadline) {
            await this.drain('signoff', deadline);
            continue;
          }
          this.state.decided = 'expired';
          break;
        }
        if (now >= deadline && !this.state.overdue) {
          this.state.overdue = true;
          nextReminder = now;
        }
        if (now >= nextReminder && (now < deadline || this.state.overdue)) {
          await remind();
          continue;
        }
        const wake = this.state.overdue ? nextReminder : Math.min(deadline, nextReminder);
        if (this.queue.length > 0) {
          // Stops at the next reminder or the deadline, for the loop to see to it.
          await this.drain('signoff', Infinity, wake);
          continue;
        }
        // One timer for each wake-up time, however many signals wake the gate before it.
        await alarm.until(() => this.queue.length > 0, wake, display(`waiting for ${approvals.quorum} approval(s) until ${this.state.deadline}`));
        continue;
      }
      // Histories from before DEADLINE_PATCH: every queued signal was checked before the deadline was looked at again.
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
      if (Date.now() >= nextReminder && (Date.now() < deadline || this.state.overdue)) await remind();
    }
    alarm.cancel();
    await this.recordSuppressed('the sign-off closed');
    return this.state;
  }

  /**
   * Handles queued signals after the gate: only attested rollbacks matter then. `receivedBy`: only
   * the signals received by then (workflow time, ms); the queue is in order of arrival. `until`: no
   * signal is taken up once the workflow's clock has reached it (the gate's next reminder or deadline).
   *
   * Refused signals of the run get an `approval.ignored` entry each, up to IGNORED_LISTED; past that
   * (REFUSAL_BUDGET_PATCH) they are counted into a summary entry instead (recordSuppressed), and a
   * signal whose attestation cannot be a compact JWS (all a sender without the payload key can send:
   * the worker's codec hands on their payload only as a refusal) is refused here, without a check.
   * Every other signal is still checked, so a genuine vote counts whatever came before it.
   */
  async drain(phase: 'signoff' | 'after', receivedBy = Infinity, until = Infinity): Promise<void> {
    while (this.queue.length > 0 && this.queue[0]!.receivedAt <= receivedBy) {
      if (Date.now() >= until) return;
      const overBudget = this.ignoredListed >= IGNORED_LISTED && patched(REFUSAL_BUDGET_PATCH);
      const shapeRefusal = overBudget ? refusedByShape(this.queue[0]!.attestation) : undefined;
      if (shapeRefusal) {
        await this.suppress(this.queue.shift()!, shapeRefusal);
        continue;
      }
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
        ...(overBudget ? { auditRefusal: false } : {}),
      }]));
      // Not checked: the signal is queued again, and the caller's loop, which watches its deadline, comes back.
      if (!checked) return;
      this.track(checked);
      if (!checked.accepted && checked.unrecorded) {
        await this.suppress(next, checked.refusal ?? 'refused', checked.refusedFor);
        continue;
      }
      if (!checked.accepted && (checked.auditSeqs?.length ?? 0) > 0) this.ignoredListed++;
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

  /**
   * Counts a refused signal past the audit budget (REFUSAL_BUDGET_PATCH) for the next summary entry,
   * which is written once IGNORED_SUMMARY_EVERY have been counted.
   */
  private async suppress(signal: Pending, refusal: string, refusedFor?: { channel: string; approver: string }): Promise<void> {
    if (!this.suppressed) {
      log.warn('decision signals keep being refused: past the audit budget they are counted into one summary entry', { listed: IGNORED_LISTED });
    }
    const s = (this.suppressed ??= { count: 0, bySignal: { approve: 0, reject: 0, rollback: 0 }, byRefusal: {}, approvers: {}, moreApprovers: 0, from: signal.receivedAt, to: signal.receivedAt, writeAt: IGNORED_SUMMARY_EVERY });
    s.count++;
    s.bySignal[signal.decision]++;
    s.byRefusal[refusal] = (s.byRefusal[refusal] ?? 0) + 1;
    s.from = Math.min(s.from, signal.receivedAt);
    s.to = Math.max(s.to, signal.receivedAt);
    if (refusedFor) {
      const who = `${refusedFor.approver} (${refusedFor.channel})`;
      if (s.approvers[who] !== undefined || Object.keys(s.approvers).length < IGNORED_SUMMARY_NAMES) s.approvers[who] = (s.approvers[who] ?? 0) + 1;
      else s.moreApprovers++;
    }
    if (s.count >= s.writeAt) await this.recordSuppressed('counted so far');
  }

  /**
   * One `approval.ignored` entry counting the refused signals past the audit budget since the last
   * one (by signal, by refusal, the approvers named), if any. Best effort: counts not recorded are
   * kept for the next one, tried again once IGNORED_SUMMARY_EVERY more have been counted (or when the
   * gate closes or the run ends), not at every signal.
   */
  private async recordSuppressed(when: string): Promise<number[]> {
    const s = this.suppressed;
    if (!s) return [];
    this.suppressed = undefined;
    const seqs = await this.recordRefused(
      `${s.count} refused decision signal(s) → Auditor: past the run's first ${IGNORED_LISTED}, counted in one entry`,
      'approval.ignored',
      {
        refusal: 'audit-budget-exceeded', suppressed: s.count, bySignal: s.bySignal, byRefusal: s.byRefusal, approvers: s.approvers, moreApprovers: s.moreApprovers,
        signalsReceivedFrom: new Date(s.from).toISOString(), signalsReceivedTo: new Date(s.to).toISOString(), listedIndividually: IGNORED_LISTED, when, planHash: this.request.planHash,
      },
      'the summary of refused decision signals',
      { workflowId: workflowInfo().workflowId },
    );
    if (seqs.length === 0) this.suppressed = { ...s, writeAt: s.count + IGNORED_SUMMARY_EVERY };
    return seqs;
  }

  /** One Orchestrator → Auditor entry about signals that decided nothing; best effort: a failure to record is logged. Its audit seqs, if written. */
  private async recordRefused(summary: string, action: string, details: Record<string, unknown>, what: string, subject: Record<string, string> = { [this.request.kind]: this.request.subject }): Promise<number[]> {
    try {
      const recorded = await auditor.recordHandoff.executeWithOptions({ summary: display(summary) }, [{ from: 'Orchestrator', to: 'Auditor', action, subject, policyVersion: this.request.policyVersion, outcome: 'refused', details }]);
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
   * three in all; any after that are only logged. Best effort, like every notice. Refused signals
   * past the audit budget not yet counted in a summary entry get theirs first.
   */
  async recordUnhandled(runOutcome: string): Promise<{ auditSeqs: number[] }> {
    const auditSeqs: number[] = [...(await this.recordSuppressed(`the run ended ${runOutcome}`))];
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

/** Why the check would refuse this attestation for its shape alone (see verifyChannelJws), or undefined. */
function refusedByShape(attestation: string): string | undefined {
  if (attestation.length > ATTESTATION_MAX_CHARS) return 'attestation:missing-or-oversized';
  return JWS_SHAPE.test(attestation) ? undefined : 'attestation:malformed';
}

/**
 * A wait until a time, kept across wake-ups: `condition(fn, timeout)` starts a timer each time and
 * cancels it when `fn` wakes it first, two more history events for every signal.
 */
class Alarm {
  private timer: { at: number; fired: boolean; scope: CancellationScope } | undefined;

  /** Resolves once `fn()` holds or the workflow's clock reaches `at`. */
  async until(fn: () => boolean, at: number, summary: string): Promise<void> {
    if (this.timer?.at !== at || this.timer.fired) {
      this.cancel();
      const timer = { at, fired: false, scope: new CancellationScope() };
      this.timer = timer;
      // Cancelled (a later wake-up time, or the gate closed) is expected; anything else fails the workflow task, as an unawaited failure does.
      void timer.scope.run(() => sleep(Math.max(1, at - Date.now()), { summary })).then(() => (timer.fired = true), (e: unknown) => {
        if (!isCancellation(e)) throw e;
      });
    }
    const timer = this.timer;
    await condition(() => fn() || timer.fired);
  }

  cancel(): void {
    if (this.timer && !this.timer.fired) this.timer.scope.cancel();
    this.timer = undefined;
  }
}

function countByDecision(signals: Pending[]): Record<Pending['decision'], number> {
  const counts = { approve: 0, reject: 0, rollback: 0 };
  for (const signal of signals) counts[signal.decision]++;
  return counts;
}
