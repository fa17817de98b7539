import { callIdFindings, firstSchedulings } from './call-id-findings.js';
import { looksBound, unbindResult, type ResultBinding } from '../../workflows/result-binding.js';
import type { AuditEntry } from './types.js';

/**
 * Reconciles one workflow run's Temporal history with the audit log: every handoff (an activity
 * that completed and wrote audit entries) is paired with those entries, and anything found on one
 * side only is flagged. Pure: it takes plain event records (the CLI decodes Temporal's history into
 * them) and audit entries, and never touches Temporal or PostgreSQL.
 */

/** One history event, decoded: payloads are plain JSON values, enum names are PascalCase strings. */
export interface PlainHistoryEvent {
  eventId: number;
  /** ISO 8601. */
  time: string;
  /** Temporal's event type without the `EVENT_TYPE_` prefix, PascalCase: `ActivityTaskScheduled`, `TimerStarted`… */
  type: string;
  /** `userMetadata.summary` (activity and timer summaries). */
  summary?: string;
  /** ActivityTaskScheduled. */
  activityId?: string;
  activityType?: string;
  /** ActivityTaskScheduled: the decoded arguments (only `recordHandoff`'s `action` is read; nothing is echoed). */
  input?: unknown[];
  /** ActivityTaskScheduled: the nonce the call sent for its result to carry (workflows/result-binding.ts). */
  resultBinding?: string;
  /** Activity Completed/Failed/TimedOut/Canceled: the event id of the matching ActivityTaskScheduled. */
  scheduledEventId?: number;
  /** ActivityTaskCompleted and WorkflowExecutionCompleted: the decoded result (an activity's still bound to its call). */
  result?: unknown;
  /** Failure message of a failed activity or workflow. */
  failure?: string;
  /** TimerStarted / TimerFired / TimerCanceled. */
  timerId?: string;
  /** TimerStarted: start-to-fire timeout in seconds. */
  timeoutSeconds?: number;
  /** WorkflowExecutionStarted: the workflow's type, e.g. `revocationWorkflow`. */
  workflowType?: string;
  /** WorkflowExecutionSignaled. */
  signalName?: string;
  identity?: string;
  /**
   * Payloads of this event (summary, details, result, input) that keyturn did not write: neither
   * encrypted under a key it holds nor a display payload it sealed.
   */
  unsealed?: string[];
  /** WorkflowExecutionStarted: the original run id (a reset run's, the run it was reset from). */
  originalRunId?: string;
  /** A failed activity's failure type (clear in the history). */
  failureType?: string;
  /**
   * Encrypted payloads of this event (input, result, failure) written for another place: another
   * call's (another run's or step's), or a workflow payload where a step's belongs, or the reverse.
   */
  misplaced?: string[];
}

/** What an audited activity type must write. `null`: the activity writes nothing to the audit log. */
export interface ActivityAuditRule {
  /** Human wording of the expected action(s), for messages. */
  expect: (activity: ActivityRecord) => string;
  matches: (action: string, activity: ActivityRecord) => boolean;
}

/**
 * The actions each activity writes (see activities/*.ts and the agents behind them). An activity
 * type not listed here is not judged: its entries are paired by activity id but not checked.
 */
export const ACTIVITY_AUDIT_RULES: Readonly<Record<string, ActivityAuditRule | null>> = {
  // Planning may first take over the lock of a run that ended without releasing it.
  planRotation: { expect: () => 'rotation.planned', matches: (a) => a === 'rotation.planned' || a === 'rotation.lock_reclaimed' },
  checkDecision: { expect: () => 'approval.*', matches: (a) => /^approval\.[a-z_]+$/.test(a) },
  generateKey: exact('key.generate'),
  activateKey: exact('key.activate'),
  // A previous key already revoked is not retired again: the step records that it found nothing to retire.
  retireKey: { expect: () => 'key.retire or key.retire_skipped', matches: (a) => a === 'key.retire' || a === 'key.retire_skipped' },
  revokeKey: exact('key.revoke'),
  restorePreviousKey: exact('key.restore'),
  markKeyFailed: exact('key.fail'),
  keyStates: null,
  issueCanary: exact('token.canary'),
  validateCanaries: exact('rotation.canary'),
  pauseIssuance: exact('issuance.pause'),
  resumeIssuance: exact('issuance.resume'),
  recordHandoff: {
    expect: (act) => act.handoffAction ?? 'handoff',
    matches: (a, act) => (act.handoffAction === undefined ? /^[a-z]+\.[a-z_]+$/.test(a) : a === act.handoffAction),
  },
  notify: null,
  readKeyStates: null,
  releaseRotationLock: null,
  recordProbe: null,
};

function exact(action: string): ActivityAuditRule {
  return { expect: () => action, matches: (a) => a === action };
}

export type ActivityStatus = 'completed' | 'failed' | 'timed_out' | 'canceled' | 'open';

/** An activity folded from its Scheduled event and its closing event. */
export interface ActivityRecord {
  eventId: number;
  scheduledAt: string;
  closedAt?: string;
  closedEventId?: number;
  activityId: string;
  activityType: string;
  summary?: string;
  status: ActivityStatus;
  /** The `auditSeqs` its result reports, when it has one. */
  auditSeqs?: number[];
  /** recordHandoff's `action` argument. */
  handoffAction?: string;
  failure?: string;
  failureType?: string;
  /** Its result was not produced for this call: it lacks the nonce the call sent (or carries one the call never sent). */
  unboundResult?: true;
  /**
   * A checkDecision whose refusal the run asked not to be written (past its budget of
   * `approval.ignored` entries): counted in the run's summary entry instead.
   */
  unrecordedRefusal?: true;
}

export type HistorySideKind = 'activity' | 'timer' | 'signal' | 'completion' | 'event';

/** The Temporal side of a row. */
export interface HistorySide {
  eventId: number;
  at: string;
  kind: HistorySideKind;
  /** `activity generateKey`, `timer 3`, `signal approve`, `workflow completed`. */
  label: string;
  summary?: string;
  activityType?: string;
  activityId?: string;
  status?: string;
}

/** The audit-log side of a row: enough to recognise the entry, never its details. */
export interface AuditSide {
  seq: number;
  at: string;
  action: string;
  outcome: AuditEntry['outcome'];
  actor: string;
  subject: string;
}

export type RowStatus =
  /** A handoff on both sides. */
  | 'paired'
  /** A history event that is not a handoff (timer, signal, notification, completion): nothing to pair. */
  | 'info'
  /** A handoff in the history whose audit entries are missing. */
  | 'history_only'
  /** An audit entry of this run with no history counterpart. */
  | 'audit_only'
  /** Both sides exist but disagree (wrong action, outcome not recorded…). */
  | 'mismatch';

export interface ReconciledRow {
  status: RowStatus;
  history?: HistorySide;
  audit: AuditSide[];
  /** Why the row is flagged (or a remark on an info row). */
  note?: string;
}

export interface RunReconciliation {
  workflowId: string;
  runId: string;
  /** `completed`, `failed`, … from the close event; `running` while it is open. */
  workflowStatus: string;
  /** The RunResult's `outcome` when the run returned one. */
  outcome?: string;
  auditSeqRange: [number, number] | null;
  rows: ReconciledRow[];
  /** Rows that are flagged (history_only, audit_only, mismatch). */
  flagged: number;
  paired: number;
  /** Audit entries inside the run's seq range that belong to other runs (interleaved, not flagged). */
  foreignInRange: number;
  ok: boolean;
}

export interface ReconcileInput {
  /** The run's namespace: its activity results are bound to it. */
  namespace: string;
  workflowId: string;
  runId: string;
  events: PlainHistoryEvent[];
  /** Candidate entries: any superset of the run's (by workflow id, subject, seq range, claimed seqs). */
  entries: AuditEntry[];
  /**
   * How many entries the log holds inside the run's auditSeqRange, all runs together, when the
   * caller counted them instead of passing them all; sets `foreignInRange`.
   */
  entriesInRange?: number;
  /** How far an entry's time may lie outside its activity's window for the time-based fallback. Default 2000 ms. */
  slackMs?: number;
  /** When the first worker checking call ids started (upgrade_marks), when known. */
  upgradedAt?: Date;
}

const ACTIVITY_CLOSE: Record<string, ActivityStatus> = {
  ActivityTaskCompleted: 'completed',
  ActivityTaskFailed: 'failed',
  ActivityTaskTimedOut: 'timed_out',
  ActivityTaskCanceled: 'canceled',
};

const WORKFLOW_CLOSE: Record<string, string> = {
  WorkflowExecutionCompleted: 'completed',
  WorkflowExecutionFailed: 'failed',
  WorkflowExecutionTimedOut: 'timed_out',
  WorkflowExecutionCanceled: 'canceled',
  WorkflowExecutionTerminated: 'terminated',
  WorkflowExecutionContinuedAsNew: 'continued_as_new',
};

/** Activities from the history, in the order they were scheduled. */
export function foldActivities(events: PlainHistoryEvent[], run: { namespace: string; workflowId: string }): ActivityRecord[] {
  const byScheduled = new Map<number, ActivityRecord>();
  const bindings = new Map<number, ResultBinding>();
  for (const e of events) {
    if (e.type === 'ActivityTaskScheduled') {
      if (e.resultBinding !== undefined) bindings.set(e.eventId, { ...run, activityId: e.activityId ?? '', activityType: e.activityType ?? '', nonce: e.resultBinding });
      const rec: ActivityRecord = { eventId: e.eventId, scheduledAt: e.time, activityId: e.activityId ?? String(e.eventId), activityType: e.activityType ?? 'unknown', status: 'open' };
      if (e.summary !== undefined) rec.summary = e.summary;
      const action = handoffActionOf(e.input);
      if (action !== undefined) rec.handoffAction = action;
      byScheduled.set(e.eventId, rec);
      continue;
    }
    const closed = ACTIVITY_CLOSE[e.type];
    if (!closed || e.scheduledEventId === undefined) continue;
    const rec = byScheduled.get(e.scheduledEventId);
    if (!rec) continue;
    rec.status = closed;
    rec.closedAt = e.time;
    rec.closedEventId = e.eventId;
    if (e.failure !== undefined) rec.failure = e.failure;
    if (e.failureType !== undefined) rec.failureType = e.failureType;
    if (closed !== 'completed') continue;
    const result = resultOfCall(e.result, bindings.get(e.scheduledEventId));
    if (!result) {
      rec.unboundResult = true;
      continue;
    }
    const seqs = auditSeqsOf(result.value);
    if (seqs) rec.auditSeqs = seqs;
    if (rec.activityType === 'checkDecision' && isUnrecordedRefusal(result.value)) rec.unrecordedRefusal = true;
  }
  return [...byScheduled.values()].sort((a, b) => a.eventId - b.eventId);
}

/**
 * A display payload keyturn did not seal was written by someone with Temporal access, not by a
 * keyturn process: the Web UI shows it like any other, so the row it belongs to is flagged. So is a
 * payload encrypted for another place: a copy, which keyturn's worker refused.
 */
function flagForeignPayloads(events: PlainHistoryEvent[], rows: Array<ReconciledRow & { key: [number, number] }>, activities: ActivityRecord[]): void {
  const were = (names: string[]) => `${names.join(' and ')} (event %s) ${names.length > 1 ? 'were' : 'was'}`;
  for (const e of events) {
    const problems = [
      e.unsealed?.length ? `its ${were(e.unsealed)} not written by keyturn (not sealed or encrypted under a key it holds): written by someone else with Temporal access, before keyturn sealed display payloads, or under a payload key since removed` : undefined,
      e.misplaced?.length ? `its ${were(e.misplaced)} encrypted for another place (another run's or step's call, or a run's start or signal): copied there by someone with Temporal access; keyturn's worker refuses to read it` : undefined,
    ].filter((x): x is string => x !== undefined).map((x) => x.replace('%s', String(e.eventId)));
    if (!problems.length) continue;
    const problem = problems.join('; ');
    const activity = activities.find((a) => a.closedEventId === e.eventId);
    let row = rows.find((r) => r.history?.eventId === (activity?.eventId ?? e.eventId));
    if (!row) {
      row = { key: [Date.parse(e.time), e.eventId], status: 'info', history: { eventId: e.eventId, at: e.time, kind: 'event', label: e.type }, audit: [] };
      rows.push(row);
    }
    if (row.status !== 'history_only') row.status = 'mismatch';
    row.note = row.note ? `${row.note}; ${problem}` : problem;
  }
}

function handoffActionOf(input: unknown[] | undefined): string | undefined {
  const first = input?.[0];
  if (first && typeof first === 'object' && typeof (first as { action?: unknown }).action === 'string') return (first as { action: string }).action;
  return undefined;
}

/**
 * A call that sent a nonce accepts only a result that carries it; a call from before the binding
 * sent none, and a result bound to some call cannot be its own.
 */
function resultOfCall(result: unknown, binding: ResultBinding | undefined): { value: unknown } | undefined {
  if (binding !== undefined) return unbindResult(result, binding);
  return looksBound(result) ? undefined : { value: result };
}

function auditSeqsOf(result: unknown): number[] | undefined {
  if (!result || typeof result !== 'object') return undefined;
  const seqs = (result as { auditSeqs?: unknown }).auditSeqs;
  if (!Array.isArray(seqs) || !seqs.every((s) => Number.isSafeInteger(s))) return undefined;
  return seqs as number[];
}

/** A check's refusal written to no entry of its own, at the run's request: `{ accepted: false, unrecorded: true, auditSeqs: [] }`. */
function isUnrecordedRefusal(result: unknown): boolean {
  if (!result || typeof result !== 'object') return false;
  const r = result as { accepted?: unknown; unrecorded?: unknown; auditSeqs?: unknown };
  return r.accepted === false && r.unrecorded === true && Array.isArray(r.auditSeqs) && r.auditSeqs.length === 0;
}

function runResultOf(result: unknown): { outcome?: string; auditSeqRange: [number, number] | null } {
  if (!result || typeof result !== 'object') return { auditSeqRange: null };
  const r = result as { outcome?: unknown; auditSeqRange?: unknown };
  const range = Array.isArray(r.auditSeqRange) && r.auditSeqRange.length === 2 && r.auditSeqRange.every((n) => Number.isSafeInteger(n)) ? (r.auditSeqRange as [number, number]) : null;
  return { ...(typeof r.outcome === 'string' ? { outcome: r.outcome } : {}), auditSeqRange: range };
}

/**
 * Does this entry belong to the run? Its actor ran in it or its subject names it (every entry a run
 * writes does). A seq the history claims is not enough on its own: results kept clear for the Web
 * UI can be written by anyone with Temporal access, so a claim on another entry is flagged, never
 * adopted.
 */
function belongsToRun(e: AuditEntry, workflowId: string, runId: string): boolean {
  if (e.actor.workflowId === workflowId) return e.actor.runId === undefined || e.actor.runId === runId;
  return e.subject.workflowId === workflowId && (e.subject.runId === undefined || e.subject.runId === runId);
}

const writerOf = (e: AuditEntry) => {
  const wf = e.actor.workflowId ?? e.subject.workflowId;
  const run = e.actor.runId ?? e.subject.runId;
  return wf ? `workflow ${wf}${run ? ` run ${run}` : ''}` : `${e.actor.role}, outside any run`;
};

export function auditSide(e: AuditEntry): AuditSide {
  const who = e.actor.cliUser ?? e.actor.slackUser ?? e.actor.client;
  return {
    seq: e.seq,
    at: e.at,
    action: e.action,
    outcome: e.outcome,
    actor: `${e.actor.role}${who ? `(${who})` : ''}`,
    subject: Object.entries(e.subject).filter(([k]) => k !== 'workflowId').map(([k, v]) => `${k}=${v}`).join(','),
  };
}

/** Pairs the run's history with its audit entries and flags whatever is on one side only. */
/**
 * The entries a run of this workflow type records when it ends, `<prefix>.<outcome>`; undefined for
 * types that record none of their own (a schedule's parent run). A history without its start event
 * is read as a rotation's.
 */
function outcomeEntries(workflowType: string | undefined): { prefix: string; outcomes: readonly string[] } | undefined {
  switch (workflowType) {
    case undefined:
    case 'rotationWorkflow':
      return { prefix: 'rotation', outcomes: ['completed', 'rejected', 'expired', 'rolled_back', 'failed'] };
    case 'revocationWorkflow':
      return { prefix: 'revocation', outcomes: ['revoked', 'false_alarm', 'failed'] };
    case 'policyChangeWorkflow':
      return { prefix: 'policy.change', outcomes: ['activated', 'rejected', 'expired', 'refused', 'failed'] };
    default:
      return undefined;
  }
}

export function reconcileRun(input: ReconcileInput): RunReconciliation {
  const { workflowId, runId, events } = input;
  const slack = input.slackMs ?? 2000;
  const activities = foldActivities(events, { namespace: input.namespace, workflowId });

  const close = events.find((e) => WORKFLOW_CLOSE[e.type] !== undefined);
  const workflowStatus = close ? WORKFLOW_CLOSE[close.type]! : 'running';
  const runResult = close?.type === 'WorkflowExecutionCompleted' ? runResultOf(close.result) : { auditSeqRange: null };

  const inRange = (seq: number) => runResult.auditSeqRange !== null && seq >= runResult.auditSeqRange[0] && seq <= runResult.auditSeqRange[1];
  const unique = new Map<number, AuditEntry>();
  for (const e of input.entries) unique.set(e.seq, e);
  const candidates = [...unique.values()].sort((a, b) => a.seq - b.seq);
  const entries = candidates.filter((e) => belongsToRun(e, workflowId, runId));
  const foreignInRange = input.entriesInRange !== undefined
    ? Math.max(0, input.entriesInRange - entries.filter((e) => inRange(e.seq)).length)
    : candidates.filter((e) => inRange(e.seq) && !belongsToRun(e, workflowId, runId)).length;
  const bySeq = new Map(entries.map((e) => [e.seq, e]));

  /** seq → index into activities. */
  const owner = new Map<number, number>();
  const notes = new Map<number, string[]>();
  const note = (i: number, text: string) => notes.set(i, [...(notes.get(i) ?? []), text]);

  // 1. What each activity's result says it wrote (nothing, when the result is not the call's own).
  const calls = { originalRunId: events.find((e) => e.type === 'WorkflowExecutionStarted')?.originalRunId ?? runId, ...(input.upgradedAt ? { upgradedAt: input.upgradedAt } : {}), firstScheduled: firstSchedulings(activities) };
  activities.forEach((a, i) => {
    for (const finding of callIdFindings(a, calls)) note(i, finding);
    if (a.unboundResult) note(i, `its result (event ${a.closedEventId}) was not produced for this call: it does not carry the nonce the call sent, so someone with Temporal access answered the task, e.g. with a result copied from another run's history (the workflow refuses such a result)`);
    for (const seq of a.auditSeqs ?? []) {
      const elsewhere = bySeq.has(seq) ? undefined : unique.get(seq);
      if (elsewhere) note(i, `its result reports audit seq ${seq}, which is not this run's (written by ${writerOf(elsewhere)})`);
      else if (!bySeq.has(seq)) note(i, `its result reports audit seq ${seq}, which the audit log does not hold`);
      else if (owner.has(seq) && owner.get(seq) !== i) note(i, `its result reports audit seq ${seq}, already reported by event ${activities[owner.get(seq)!]!.eventId}`);
      else owner.set(seq, i);
    }
  });
  // 2. Entries written under an activity's identity (every activity-written entry carries it).
  const byActivityId = new Map(activities.map((a, i) => [a.activityId, i]));
  for (const e of entries) {
    if (owner.has(e.seq) || e.actor.activityId === undefined || e.actor.workflowId !== workflowId) continue;
    const i = byActivityId.get(e.actor.activityId);
    if (i !== undefined) owner.set(e.seq, i);
  }
  // 3. Results that could not be read: approvals are written as the approver (no activity id), so
  //    pair them in order with checkDecision activities that claimed nothing, inside their time window.
  const ms = (t: string) => Date.parse(t);
  const taken = new Set(owner.values());
  const openChecks = activities
    .map((a, i) => ({ a, i }))
    .filter(({ a, i }) => a.activityType === 'checkDecision' && a.auditSeqs === undefined && !taken.has(i));
  for (const e of entries) {
    if (owner.has(e.seq) || e.actor.activityId !== undefined || !e.action.startsWith('approval.')) continue;
    const k = openChecks.findIndex(({ a }) => ms(e.at) >= ms(a.scheduledAt) - slack && ms(e.at) <= ms(a.closedAt ?? a.scheduledAt) + slack);
    if (k < 0) continue;
    owner.set(e.seq, openChecks[k]!.i);
    openChecks.splice(k, 1);
  }

  const entriesOf = (i: number) => entries.filter((e) => owner.get(e.seq) === i);
  type Positioned = ReconciledRow & { key: [number, number] };
  const rows: Positioned[] = [];

  activities.forEach((a, i) => {
    const mine = entriesOf(i);
    const rule = ACTIVITY_AUDIT_RULES[a.activityType];
    const problems = [...(notes.get(i) ?? [])];
    let status: RowStatus;
    if (rule === null) {
      status = mine.length ? 'mismatch' : 'info';
      if (mine.length) problems.push(`${a.activityType} writes no audit entries, yet ${mine.map((e) => `seq ${e.seq}`).join(', ')} carry its activity id`);
    } else if (rule === undefined) {
      status = mine.length ? 'paired' : 'info';
    } else {
      const wrong = mine.filter((e) => !rule.matches(e.action, a));
      if (wrong.length) problems.push(`expected ${rule.expect(a)}, found ${wrong.map((e) => `${e.action} (seq ${e.seq})`).join(', ')}`);
      if (mine.length === 0 && a.status === 'completed' && !a.unrecordedRefusal) {
        status = 'history_only';
        problems.unshift(`completed, but the audit log holds no ${rule.expect(a)} entry for it`);
      } else if (mine.length === 0) {
        status = 'info';
      } else {
        status = 'paired';
      }
    }
    if (problems.length && status !== 'history_only') status = 'mismatch';
    const row: Positioned = {
      key: [ms(a.scheduledAt), a.eventId],
      status,
      history: {
        eventId: a.eventId,
        at: a.closedAt ?? a.scheduledAt,
        kind: 'activity',
        label: `activity ${a.activityType}`,
        activityType: a.activityType,
        activityId: a.activityId,
        status: a.status,
        ...(a.summary !== undefined ? { summary: a.summary } : {}),
      },
      audit: mine.map(auditSide),
    };
    const remark = problems.length ? problems.join('; ')
      : a.status !== 'completed' ? `activity ${a.status.replace('_', ' ')}${a.failure ? `: ${a.failure}` : ''}`
      : a.unrecordedRefusal && mine.length === 0 ? 'a refusal past the run\'s budget of approval.ignored entries: counted in its summary entry, not written on its own'
      : undefined;
    if (remark) row.note = remark;
    rows.push(row);
  });

  const timerSummaries = new Map<string, PlainHistoryEvent>();
  for (const e of events) {
    if (e.type === 'TimerStarted') {
      if (e.timerId !== undefined) timerSummaries.set(e.timerId, e);
      rows.push({
        key: [ms(e.time), e.eventId],
        status: 'info',
        history: { eventId: e.eventId, at: e.time, kind: 'timer', label: `timer${e.timeoutSeconds !== undefined ? ` ${formatSeconds(e.timeoutSeconds)}` : ''}`, ...(e.summary !== undefined ? { summary: e.summary } : {}) },
        audit: [],
      });
    } else if (e.type === 'WorkflowExecutionSignaled') {
      rows.push({
        key: [ms(e.time), e.eventId],
        status: 'info',
        history: { eventId: e.eventId, at: e.time, kind: 'signal', label: `signal ${e.signalName ?? '?'}`, ...(e.identity ? { summary: `from ${e.identity}` } : {}) },
        audit: [],
      });
    }
  }

  if (close) {
    const row: Positioned = {
      key: [ms(close.time), close.eventId],
      status: 'info',
      history: { eventId: close.eventId, at: close.time, kind: 'completion', label: `workflow ${workflowStatus.replace('_', ' ')}`, ...(runResult.outcome ? { summary: `outcome ${runResult.outcome}` } : close.failure ? { summary: close.failure } : {}) },
      audit: [],
    };
    const problems: string[] = [];
    const ends = outcomeEntries(events.find((e) => e.type === 'WorkflowExecutionStarted')?.workflowType);
    if (runResult.outcome && ends) {
      const expected = `${ends.prefix}.${runResult.outcome}`;
      const recorded = entries.filter((e) => owner.has(e.seq) && e.action === expected);
      if (recorded.length === 0) problems.push(`the run ended ${runResult.outcome}, but no ${expected} entry was recorded by it`);
      const others = entries.filter((e) => owner.has(e.seq) && ends.outcomes.some((o) => e.action === `${ends.prefix}.${o}`) && e.action !== expected);
      if (others.length) problems.push(`the run ended ${runResult.outcome}, but the log records ${others.map((e) => `${e.action} (seq ${e.seq})`).join(', ')}`);
    }
    const range = runResult.auditSeqRange;
    if (range) {
      for (const end of range) {
        if (!bySeq.has(end)) problems.push(`the result's auditSeqRange names seq ${end}, which is not an entry of this run`);
      }
      const ownedSeqs = [...owner.keys()];
      const outside = ownedSeqs.filter((s) => !inRange(s) && activities[owner.get(s)!]!.auditSeqs?.includes(s));
      if (outside.length) problems.push(`seq ${outside.join(', ')} reported by the run lie outside its auditSeqRange ${range[0]}–${range[1]}`);
    }
    if (problems.length) {
      row.status = 'mismatch';
      row.note = problems.join('; ');
    }
    rows.push(row);
  }

  for (const e of entries) {
    if (owner.has(e.seq)) continue;
    rows.push({ key: [ms(e.at), Number.MAX_SAFE_INTEGER - 1e9 + e.seq], status: 'audit_only', audit: [auditSide(e)], note: 'no activity in the run\'s history wrote this entry' });
  }

  flagForeignPayloads(events, rows, activities);

  rows.sort((x, y) => x.key[0] - y.key[0] || x.key[1] - y.key[1]);
  const out: ReconciledRow[] = rows.map(({ key: _key, ...r }) => r);
  const flagged = out.filter((r) => r.status === 'history_only' || r.status === 'audit_only' || r.status === 'mismatch').length;
  return {
    workflowId,
    runId,
    workflowStatus,
    ...(runResult.outcome ? { outcome: runResult.outcome } : {}),
    auditSeqRange: runResult.auditSeqRange,
    rows: out,
    flagged,
    paired: out.filter((r) => r.status === 'paired').length,
    foreignInRange,
    ok: flagged === 0,
  };
}

function formatSeconds(s: number): string {
  return Number.isInteger(s) ? `${s}s` : `${s.toFixed(1)}s`;
}

const FLAG: Record<RowStatus, string> = { paired: '  ', info: '  ', history_only: '✗ ', audit_only: '✗ ', mismatch: '✗ ' };

/** A two-column, fixed-width table: Temporal history on the left, the audit log on the right. */
export function formatReconciliation(r: RunReconciliation, width = { history: 78, audit: 64 }): string {
  const lines: string[] = [];
  lines.push(`run ${r.workflowId}`);
  lines.push(`run id ${r.runId}   status ${r.workflowStatus}${r.outcome ? `   outcome ${r.outcome}` : ''}   audit seqs ${r.auditSeqRange ? `${r.auditSeqRange[0]}–${r.auditSeqRange[1]}` : 'none'}`);
  lines.push('');
  const head = `${'  '}${pad('TEMPORAL HISTORY', width.history)} │ AUDIT LOG`;
  lines.push(head);
  lines.push(`${'  '}${'─'.repeat(width.history)}─┼─${'─'.repeat(width.audit)}`);
  for (const row of r.rows) {
    const left: string[] = [];
    if (row.history) {
      const h = row.history;
      left.push(`#${h.eventId} ${time(h.at)} ${h.label}${h.status && h.status !== 'completed' ? ` (${h.status.replace('_', ' ')})` : ''}`);
      if (h.summary) left.push(...wrap(`  ${h.summary}`, width.history, '  '));
    } else {
      left.push('(nothing in the history)');
    }
    const right: string[] = [];
    for (const a of row.audit) right.push(...wrap(`seq ${a.seq} ${a.action} ${a.outcome} ${a.actor}${a.subject ? ` ${a.subject}` : ''}`, width.audit, '    '));
    if (right.length === 0 && row.history?.kind === 'activity' && row.status === 'history_only') right.push('(nothing in the audit log)');
    const n = Math.max(left.length, right.length);
    for (let i = 0; i < n; i++) {
      lines.push(`${i === 0 ? FLAG[row.status] : '  '}${pad(left[i] ?? '', width.history)} │ ${right[i] ?? ''}`);
    }
    if (row.note) {
      const flagged = row.status !== 'paired' && row.status !== 'info';
      for (const l of wrap(flagged ? `${row.status.toUpperCase().replace('_', ' ')}: ${row.note}` : `(${row.note})`, width.history + width.audit, '  ')) lines.push(`  ↳ ${l}`);
    }
  }
  lines.push('');
  lines.push(r.ok
    ? `ok: ${r.paired} handoffs paired, nothing on one side only${r.foreignInRange ? ` (${r.foreignInRange} entries of other runs interleave in the seq range)` : ''}`
    : `MISMATCH: ${r.flagged} row(s) flagged, ${r.paired} handoffs paired`);
  return lines.join('\n');
}

function time(iso: string): string {
  return iso.length >= 23 ? iso.slice(11, 23) : iso;
}

function pad(s: string, n: number): string {
  const len = [...s].length;
  return len >= n ? s : s + ' '.repeat(n - len);
}

function wrap(text: string, width: number, indent: string): string[] {
  const out: string[] = [];
  let rest = text;
  while ([...rest].length > width) {
    const chars = [...rest];
    let cut = chars.slice(0, width).join('').lastIndexOf(' ');
    if (cut <= indent.length) cut = chars.slice(0, width).join('').length;
    out.push(rest.slice(0, cut));
    rest = indent + rest.slice(cut).trimStart();
  }
  out.push(rest);
  return out;
}
