import { describe, expect, it } from 'vitest';
import { foldActivities, formatReconciliation, reconcileRun, type PlainHistoryEvent, type RunReconciliation } from './run-reconciliation.js';
import type { AuditEntry, AuditEntryInput } from './types.js';

const WF = 'rotate-localhost-demo-abc123';
const RUN = 'run-1';
const NS = 'default';
const RUN_OF = { namespace: NS, workflowId: WF };
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

/** Builds a history the way the CLI decodes it: event ids and times increase together. */
class History {
  readonly events: PlainHistoryEvent[] = [{ eventId: 1, time: at(0), type: 'WorkflowExecutionStarted' }];
  private nextActivity = 1;
  private nextTimer = 1;

  private push(e: Omit<PlainHistoryEvent, 'eventId' | 'time'>, ms: number): PlainHistoryEvent {
    const ev = { eventId: this.events.length + 1, time: at(ms), ...e } as PlainHistoryEvent;
    this.events.push(ev);
    return ev;
  }

  /** Schedules and closes one activity at `ms`; returns its activity id. */
  activity(activityType: string, ms: number, opts: { result?: unknown; status?: 'completed' | 'failed' | 'open'; summary?: string; input?: unknown[]; resultBinding?: string } = {}): string {
    const activityId = String(this.nextActivity++);
    const s = this.push({ type: 'ActivityTaskScheduled', activityId, activityType, ...(opts.summary ? { summary: opts.summary } : {}), ...(opts.input ? { input: opts.input } : {}), ...(opts.resultBinding !== undefined ? { resultBinding: opts.resultBinding } : {}) }, ms);
    this.push({ type: 'ActivityTaskStarted', scheduledEventId: s.eventId }, ms + 1);
    if (opts.status === 'open') return activityId;
    if (opts.status === 'failed') this.push({ type: 'ActivityTaskFailed', scheduledEventId: s.eventId, failure: 'refused' }, ms + 5);
    else this.push({ type: 'ActivityTaskCompleted', scheduledEventId: s.eventId, result: opts.result ?? null }, ms + 5);
    return activityId;
  }

  timer(ms: number, seconds: number, summary: string): void {
    const timerId = String(this.nextTimer++);
    this.push({ type: 'TimerStarted', timerId, timeoutSeconds: seconds, summary }, ms);
    this.push({ type: 'TimerFired', timerId }, ms + seconds * 1000);
  }

  signal(ms: number, signalName: string): void {
    this.push({ type: 'WorkflowExecutionSignaled', signalName, identity: '42@host' }, ms);
  }

  complete(ms: number, result: unknown): void {
    this.push({ type: 'WorkflowExecutionCompleted', result }, ms);
  }
}

let seq = 100;
function entry(input: Partial<AuditEntryInput> & { action: string; ms: number; seq?: number }): AuditEntry {
  const { ms, seq: s, ...rest } = input;
  return {
    actor: { role: 'KeyManager', workflowId: WF, runId: RUN },
    subject: { issuer: 'https://issuer.test' },
    policyVersion: 'v1',
    outcome: 'ok',
    details: {},
    ...rest,
    seq: s ?? ++seq,
    at: at(ms),
    prevHash: 'x',
    hash: 'y',
  };
}
const by = (activityId: string, role: AuditEntry['actor']['role'] = 'KeyManager') => ({ role, workflowId: WF, runId: RUN, activityId });

/** A whole rotation that replaced a key, with the entries each step wrote. */
function completedRun() {
  seq = 100;
  const h = new History();
  const entries: AuditEntry[] = [];
  const step = (activityType: string, action: string, ms: number, role: AuditEntry['actor']['role'], extra: { input?: unknown[] } = {}) => {
    const s = seq + 1;
    const id = h.activity(activityType, ms, { result: { auditSeqs: [s] }, summary: `→ ${activityType}`, ...extra });
    entries.push(entry({ action, ms: ms + 2, actor: by(id, role), seq: s }));
    seq = s;
  };
  step('planRotation', 'rotation.planned', 10, 'Planner');
  h.activity('notify', 20, { result: { auditSeqs: [] }, summary: 'Planner → Security lead: request sign-off' });
  h.timer(30, 60, 'waiting for 1 approval(s)');
  h.signal(100, 'approve');
  const check = h.activity('checkDecision', 110, { result: { auditSeqs: [102] } });
  entries.push(entry({ action: 'approval.approve', ms: 112, seq: 102, actor: { role: 'Human', cliUser: 'cli:alice', workflowId: WF, runId: RUN } }));
  seq = 102;
  void check;
  step('generateKey', 'key.generate', 200, 'KeyManager');
  h.timer(210, 1, 'Wait 1s');
  step('issueCanary', 'token.canary', 1300, 'TokenIssuer');
  step('activateKey', 'key.activate', 1400, 'KeyManager');
  step('issueCanary', 'token.canary', 1500, 'TokenIssuer');
  step('validateCanaries', 'rotation.canary', 1600, 'Validator');
  h.timer(1700, 6, 'Wait 6s overlap');
  step('retireKey', 'key.retire', 7800, 'KeyManager');
  step('recordHandoff', 'rotation.completed', 7900, 'Orchestrator', { input: [{ from: 'Orchestrator', to: 'Auditor', action: 'rotation.completed' }] });
  h.activity('releaseRotationLock', 8000);
  h.complete(8100, { outcome: 'completed', approvals: [], auditSeqRange: [101, seq] });
  return { h, entries };
}

const flagged = (r: RunReconciliation) => r.rows.filter((x) => x.status !== 'paired' && x.status !== 'info');
const pairs = (r: RunReconciliation) => r.rows.filter((x) => x.status === 'paired').map((x) => [x.history!.activityType, ...x.audit.map((a) => a.action)]);

describe('reconcileRun', () => {
  it('pairs every handoff of a completed rotation and flags nothing', () => {
    const { h, entries } = completedRun();
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries });
    expect(flagged(r)).toEqual([]);
    expect(r).toMatchObject({ ok: true, workflowStatus: 'completed', outcome: 'completed', auditSeqRange: [101, 109], paired: 9, foreignInRange: 0 });
    expect(pairs(r)).toEqual([
      ['planRotation', 'rotation.planned'], ['checkDecision', 'approval.approve'], ['generateKey', 'key.generate'], ['issueCanary', 'token.canary'],
      ['activateKey', 'key.activate'], ['issueCanary', 'token.canary'], ['validateCanaries', 'rotation.canary'], ['retireKey', 'key.retire'], ['recordHandoff', 'rotation.completed'],
    ]);
    // Timers, the signal, the notifications and the completion are shown, unpaired and unflagged.
    expect(r.rows.filter((x) => x.status === 'info').map((x) => x.history!.label)).toEqual([
      'activity notify', 'timer 60s', 'signal approve', 'timer 1s', 'timer 6s', 'activity releaseRotationLock', 'workflow completed',
    ]);
    expect(r.rows.find((x) => x.audit[0]?.action === 'approval.approve')!.audit[0]!.actor).toBe('Human(cli:alice)');
  });

  it('flags a handoff, a timer and the completion whose display payloads keyturn did not seal, keeping the pairing', () => {
    const { h, entries } = completedRun();
    const mark = (type: string, nth: number, unsealed: string[]) => {
      h.events.filter((e) => e.type === type)[nth]!.unsealed = unsealed;
    };
    mark('ActivityTaskScheduled', 0, ['summary']);
    mark('TimerStarted', 2, ['summary']);
    mark('WorkflowExecutionCompleted', 0, ['result']);
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries });
    expect(r).toMatchObject({ ok: false, flagged: 3, paired: 8 });
    expect(flagged(r).map((x) => [x.status, x.history!.label, x.note])).toEqual([
      ['mismatch', 'activity planRotation', expect.stringMatching(/^its summary \(event 2\) was not written by keyturn/)],
      ['mismatch', 'timer 6s', expect.stringMatching(/^its summary \(event \d+\) was not written by keyturn/)],
      ['mismatch', 'workflow completed', expect.stringMatching(/^its result \(event \d+\) was not written by keyturn/)],
    ]);
  });

  it('flags a call whose input or result was encrypted for another place, keeping the pairing', () => {
    const { h, entries } = completedRun();
    h.events.filter((e) => e.type === 'ActivityTaskScheduled')[1]!.misplaced = ['input'];
    h.events.filter((e) => e.type === 'ActivityTaskCompleted')[2]!.misplaced = ['result'];
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries });
    expect(flagged(r).map((x) => [x.status, x.note])).toEqual([
      ['mismatch', expect.stringMatching(/^its input \(event \d+\) was encrypted for another place/)],
      ['mismatch', expect.stringMatching(/^its result \(event \d+\) was encrypted for another place/)],
    ]);
    expect(r).toMatchObject({ ok: false, flagged: 2 });
  });

  it('flags an event that is no row of its own (the start) when its display payloads were not sealed', () => {
    const { h, entries } = completedRun();
    h.events[0]!.unsealed = ['summary', 'details'];
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries });
    expect(flagged(r)).toEqual([expect.objectContaining({ status: 'mismatch', history: expect.objectContaining({ kind: 'event', label: 'WorkflowExecutionStarted' }), note: expect.stringMatching(/^its summary and details \(event 1\) were not written by keyturn/) })]);
  });

  it('pairs by the entry\'s activity id when a result reports no seqs', () => {
    const { h, entries } = completedRun();
    for (const e of h.events) if (e.type === 'ActivityTaskCompleted') delete e.result;
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries });
    expect(flagged(r)).toEqual([]);
    expect(r.paired).toBe(9);
  });

  it('pairs an approval (written as the approver, without activity id) with its checkDecision by time when results are unreadable', () => {
    const { h, entries } = completedRun();
    for (const e of h.events) if (e.type === 'ActivityTaskCompleted') delete e.result;
    const late = entry({ action: 'approval.approve', ms: 60_000, actor: { role: 'Human', cliUser: 'cli:mallory', workflowId: WF, runId: RUN } });
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: [...entries, late] });
    expect(pairs(r)).toContainEqual(['checkDecision', 'approval.approve']);
    expect(flagged(r)).toEqual([expect.objectContaining({ status: 'audit_only', audit: [expect.objectContaining({ seq: late.seq, actor: 'Human(cli:mallory)' })] })]);
  });

  it('takes a check whose refusal the run asked not to be written (past its budget) as counted elsewhere, but flags a check that wrote nothing unasked', () => {
    const { h, entries } = completedRun();
    h.signal(7950, 'approve');
    h.activity('checkDecision', 7960, { result: { accepted: false, refusal: 'attestation:signature', auditSeqs: [], unrecorded: true } });
    h.signal(7970, 'approve');
    h.activity('checkDecision', 7980, { result: { accepted: false, refusal: 'attestation:signature', auditSeqs: [] } });
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries });
    const checks = r.rows.filter((x) => x.history?.activityType === 'checkDecision');
    expect(checks.map((x) => x.status)).toEqual(['paired', 'info', 'history_only']);
    expect(checks[1]!.note).toMatch(/counted in its summary entry/);
    expect(flagged(r)).toEqual([checks[2]]);
  });

  it('flags an entry of the run that no activity wrote (inserted by hand)', () => {
    const { h, entries } = completedRun();
    const forged = entry({ action: 'approval.approve', ms: 9000, actor: { role: 'Human', cliUser: 'cli:mallory', workflowId: WF, runId: RUN } });
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: [...entries, forged] });
    expect(r.ok).toBe(false);
    expect(flagged(r)).toEqual([{ status: 'audit_only', audit: [expect.objectContaining({ seq: forged.seq })], note: expect.stringContaining('no activity') }]);
    expect(r.paired).toBe(9);
  });

  it('flags an entry naming an activity id the history does not have', () => {
    const { h, entries } = completedRun();
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: [...entries, entry({ action: 'key.revoke', ms: 8050, actor: by('999') })] });
    expect(flagged(r).map((x) => x.status)).toEqual(['audit_only']);
  });

  it('flags a completed handoff whose entry is missing from the log', () => {
    const { h, entries } = completedRun();
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: entries.filter((e) => e.action !== 'key.generate') });
    const f = flagged(r);
    expect(f.map((x) => [x.status, x.history?.activityType])).toEqual([['history_only', 'generateKey']]);
    expect(f[0]!.note).toMatch(/^completed, but the audit log holds no key\.generate entry for it; its result reports audit seq 103, which the audit log does not hold/);
  });

  it('pairs a retire step that found the previous key already revoked with its key.retire_skipped entry', () => {
    const { h, entries } = completedRun();
    const skipped = entries.map((e) => (e.action === 'key.retire' ? { ...e, action: 'key.retire_skipped' } : e));
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: skipped });
    expect(flagged(r)).toEqual([]);
    expect(pairs(r)).toContainEqual(['retireKey', 'key.retire_skipped']);
  });

  it('flags a handoff whose entry has the wrong action', () => {
    const { h, entries } = completedRun();
    const swapped = entries.map((e) => (e.action === 'key.activate' ? { ...e, action: 'key.retire' } : e));
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: swapped });
    expect(flagged(r)).toEqual([expect.objectContaining({ status: 'mismatch', history: expect.objectContaining({ activityType: 'activateKey' }), note: expect.stringMatching(/expected key\.activate, found key\.retire/) })]);
  });

  it('flags an outcome the log does not record as the run ended', () => {
    const { h, entries } = completedRun();
    const wrong = entries.map((e) => (e.action === 'rotation.completed' ? { ...e, action: 'rotation.rolled_back' } : e));
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: wrong });
    expect(flagged(r).map((x) => x.history?.label)).toEqual(['activity recordHandoff', 'workflow completed']);
    expect(flagged(r)[1]!.note).toMatch(/ended completed, but no rotation\.completed entry.*records rotation\.rolled_back/);
  });

  it('flags an auditSeqRange that names seqs that are not the run\'s', () => {
    const { h, entries } = completedRun();
    const done = h.events.find((e) => e.type === 'WorkflowExecutionCompleted')!;
    done.result = { outcome: 'completed', approvals: [], auditSeqRange: [101, 200] };
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries });
    expect(flagged(r)).toEqual([expect.objectContaining({ history: expect.objectContaining({ kind: 'completion' }), note: expect.stringContaining('seq 200') })]);
  });

  it('leaves out entries of other runs interleaved in the range, and of another run of the same workflow id', () => {
    const { h, entries } = completedRun();
    const other = entry({ action: 'key.generate', ms: 300, seq: 150, actor: { role: 'KeyManager', workflowId: 'rotate-other', runId: 'x', activityId: '3' } });
    const client = entry({ action: 'token.issue', ms: 300, seq: 151, actor: { role: 'TokenIssuer', client: 'rp-1' } });
    const earlierRun = entry({ action: 'key.generate', ms: 300, seq: 152, actor: { role: 'KeyManager', workflowId: WF, runId: 'run-0', activityId: '3' } });
    // The run's last entry comes after the others' (seq 160), so they lie inside its range.
    const handoff = entries.find((e) => e.action === 'rotation.completed')!;
    handoff.seq = 160;
    const scheduled = h.events.find((e) => e.activityType === 'recordHandoff')!;
    h.events.find((e) => e.type === 'ActivityTaskCompleted' && e.scheduledEventId === scheduled.eventId)!.result = { auditSeqs: [160] };
    h.events.find((e) => e.type === 'WorkflowExecutionCompleted')!.result = { outcome: 'completed', approvals: [], auditSeqRange: [101, 160] };
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: [...entries, other, client, earlierRun] });
    expect(flagged(r)).toEqual([]);
    expect(r.foreignInRange).toBe(3);
    expect(r.rows.flatMap((x) => x.audit.map((a) => a.seq))).not.toEqual(expect.arrayContaining([150, 151, 152]));
  });

  it('takes the count of other runs\' entries in the range from the caller when it only counted them', () => {
    const { h, entries } = completedRun();
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries, entriesInRange: 9 + 40 });
    expect(r).toMatchObject({ ok: true, foreignInRange: 40 });
    expect(formatReconciliation(r).split('\n').at(-1)).toBe('ok: 9 handoffs paired, nothing on one side only (40 entries of other runs interleave in the seq range)');
  });

  it('includes entries whose subject names the run, even with another actor', () => {
    const { h, entries } = completedRun();
    const ignored = entry({ action: 'approval.ignored', ms: 120, outcome: 'refused', subject: { workflowId: WF }, actor: { role: 'Auditor' } });
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: [...entries, ignored] });
    expect(flagged(r)).toEqual([expect.objectContaining({ status: 'audit_only', audit: [expect.objectContaining({ action: 'approval.ignored', subject: '' })] })]);
  });

  it('accepts a refused entry of a failed activity, and a failed activity that wrote nothing', () => {
    seq = 300;
    const h = new History();
    const act = h.activity('activateKey', 10, { status: 'failed' });
    h.activity('retireKey', 20, { status: 'failed' });
    h.activity('generateKey', 30, { status: 'open' });
    const refused = entry({ action: 'key.activate', outcome: 'refused', ms: 12, actor: by(act) });
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: [refused] });
    expect(r).toMatchObject({ ok: true, workflowStatus: 'running' });
    expect(r.rows.map((x) => [x.status, x.history?.status, x.note])).toEqual([
      ['paired', 'failed', 'activity failed: refused'],
      ['info', 'failed', 'activity failed: refused'],
      ['info', 'open', 'activity open'],
    ]);
  });

  it('flags an entry claiming to come from an activity that writes no audit entries', () => {
    seq = 400;
    const h = new History();
    const id = h.activity('notify', 10, { result: { auditSeqs: [] } });
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: [entry({ action: 'key.generate', ms: 11, actor: by(id) })] });
    expect(flagged(r)).toEqual([expect.objectContaining({ status: 'mismatch', note: expect.stringContaining('notify writes no audit entries') })]);
  });

  it('flags a result that reports a seq already reported by another activity', () => {
    const { h, entries } = completedRun();
    const retire = h.events.find((e) => e.type === 'ActivityTaskScheduled' && e.activityType === 'retireKey')!;
    const done = h.events.find((e) => e.type === 'ActivityTaskCompleted' && e.scheduledEventId === retire.eventId)!;
    done.result = { auditSeqs: [108, 103] };
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries });
    expect(flagged(r)).toEqual([expect.objectContaining({ history: expect.objectContaining({ activityType: 'retireKey' }), note: expect.stringMatching(/seq 103, already reported by event/) })]);
  });

  it.each([
    ['another run', { role: 'KeyManager' as const, workflowId: 'rotate-other', runId: 'x', activityId: '3' }, /seq 150, which is not this run's \(written by workflow rotate-other run x\)/],
    ['no run at all', { role: 'TokenIssuer' as const, client: 'rp-1' }, /seq 150, which is not this run's \(written by TokenIssuer, outside any run\)/],
  ])('flags a result that claims an entry of %s, and does not adopt the entry', (_name, actor, note) => {
    const { h, entries } = completedRun();
    const foreign = entry({ action: 'key.generate', ms: 300, seq: 150, actor });
    const generate = h.events.find((e) => e.type === 'ActivityTaskScheduled' && e.activityType === 'generateKey')!;
    h.events.find((e) => e.type === 'ActivityTaskCompleted' && e.scheduledEventId === generate.eventId)!.result = { auditSeqs: [150] };
    const r = reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: [...entries, foreign] });
    expect(flagged(r)).toEqual([expect.objectContaining({ status: 'mismatch', history: expect.objectContaining({ activityType: 'generateKey' }), note: expect.stringMatching(note) })]);
    expect(r.rows.flatMap((x) => x.audit.map((a) => a.seq))).not.toContain(150);
  });
});

describe('foldActivities', () => {
  it('joins each Scheduled event with its closing event and keeps recordHandoff\'s action', () => {
    const h = new History();
    h.activity('recordHandoff', 10, { result: { auditSeqs: [7] }, input: [{ action: 'rotation.rolled_back', secret: 'never echoed' }], summary: 'Orchestrator → Auditor' });
    h.activity('notify', 20, { status: 'open' });
    expect(foldActivities(h.events, RUN_OF)).toEqual([
      { eventId: 2, scheduledAt: at(10), closedAt: at(15), closedEventId: 4, activityId: '1', activityType: 'recordHandoff', summary: 'Orchestrator → Auditor', status: 'completed', auditSeqs: [7], handoffAction: 'rotation.rolled_back' },
      { eventId: 5, scheduledAt: at(20), activityId: '2', activityType: 'notify', status: 'open' },
    ]);
  });
});

describe('formatReconciliation', () => {
  it('prints history on the left, the audit log on the right, and marks flagged rows', () => {
    const { h, entries } = completedRun();
    const forged = entry({ action: 'approval.approve', ms: 9000, actor: { role: 'Human', cliUser: 'cli:mallory', workflowId: WF, runId: RUN } });
    const text = formatReconciliation(reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: [...entries, forged] }));
    const lines = text.split('\n');
    expect(lines[0]).toBe(`run ${WF}`);
    expect(text).toMatch(/^ {2}TEMPORAL HISTORY +│ AUDIT LOG$/m);
    expect(text).toMatch(/^ {2}#\d+ 00:00:00\.\d{3} activity generateKey +│ seq 103 key\.generate ok KeyManager issuer=https:\/\/issuer\.test$/m);
    expect(text).toMatch(/^✗ \(nothing in the history\) +│ seq 110 approval\.approve ok Human\(cli:mallory\)/m);
    expect(text).toMatch(/↳ AUDIT ONLY: no activity in the run's history wrote this entry/);
    expect(lines.at(-1)).toBe('MISMATCH: 1 row(s) flagged, 9 handoffs paired');
    // Every table line keeps the column separator at the same place.
    const table = lines.filter((l) => l.includes('│'));
    expect(new Set(table.map((l) => [...l].indexOf('│'))).size).toBe(1);
  });

  it('ends with ok when nothing is flagged', () => {
    const { h, entries } = completedRun();
    expect(formatReconciliation(reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries })).split('\n').at(-1)).toBe('ok: 9 handoffs paired, nothing on one side only');
  });

  it('checks a revocation run\'s end against revocation entries, not rotation ones', () => {
    seq = 200;
    const h = new History();
    h.events[0] = { ...h.events[0]!, workflowType: 'revocationWorkflow' };
    const id = h.activity('recordHandoff', 10, { result: { auditSeqs: [201] }, input: [{ from: 'Orchestrator', to: 'Auditor', action: 'revocation.failed' }] });
    const failed = entry({ action: 'revocation.failed', ms: 12, seq: 201, actor: by(id, 'Orchestrator') });
    h.complete(20, { outcome: 'failed', approvals: [], auditSeqRange: [201, 201] });
    expect(flagged(reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: [failed] }))).toEqual([]);
    const wrong = { ...failed, action: 'revocation.revoked' };
    expect(flagged(reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries: [wrong] })).map((r) => r.note)).toContainEqual(expect.stringMatching(/ended failed, but no revocation\.failed entry.*records revocation\.revoked/));
  });
});

describe('results bound to their calls', () => {
  /** What the worker binds generateKey's result to: the first activity of the run. */
  const bound = (nonce: string) => ({ namespace: NS, workflowId: WF, activityId: '1', activityType: 'generateKey', nonce });
  const generated = (h: History, opts: { resultBinding?: string; result: unknown }) => {
    seq = 300;
    const id = h.activity('generateKey', 10, opts);
    return { id, entries: [entry({ action: 'key.generate', ms: 12, actor: by(id), seq: 301 })] };
  };
  const rowOf = (r: RunReconciliation) => r.rows.find((row) => row.history?.activityType === 'generateKey')!;

  it('reads a bound result through its call\'s nonce: its audit seqs pair', () => {
    const h = new History();
    const { entries } = generated(h, { resultBinding: 'n-1', result: { keyturnBinding: bound('n-1'), value: { auditSeqs: [301] } } });
    expect(foldActivities(h.events, RUN_OF)[0]!.auditSeqs).toEqual([301]);
    expect(rowOf(reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries })).status).toBe('paired');
  });

  it('flags a result carrying another call\'s nonce as not produced for its call, and trusts none of its seqs', () => {
    const h = new History();
    const { entries } = generated(h, { resultBinding: 'n-1', result: { keyturnBinding: bound('n-other'), value: { auditSeqs: [301] } } });
    expect(foldActivities(h.events, RUN_OF)[0]).toMatchObject({ unboundResult: true });
    expect(foldActivities(h.events, RUN_OF)[0]!.auditSeqs).toBeUndefined();
    const row = rowOf(reconcileRun({ namespace: NS, workflowId: WF, runId: RUN, events: h.events, entries }));
    expect(row.status).toBe('mismatch');
    expect(row.note).toMatch(/was not produced for this call/);
  });

  it('flags a result bound to its call\'s nonce by a run of another workflow', () => {
    const h = new History();
    generated(h, { resultBinding: 'n-1', result: { keyturnBinding: { ...bound('n-1'), workflowId: 'someone-elses' }, value: { auditSeqs: [301] } } });
    expect(foldActivities(h.events, RUN_OF)[0]).toMatchObject({ unboundResult: true });
  });

  it('flags a call that sent a nonce and got a result without one', () => {
    const h = new History();
    generated(h, { resultBinding: 'n-1', result: { auditSeqs: [301] } });
    expect(foldActivities(h.events, RUN_OF)[0]).toMatchObject({ unboundResult: true });
  });

  it('flags a bound result answering a call from before the binding, which sent no nonce', () => {
    const h = new History();
    generated(h, { result: { keyturnBinding: bound('n-1'), value: { auditSeqs: [301] } } });
    expect(foldActivities(h.events, RUN_OF)[0]).toMatchObject({ unboundResult: true });
  });

  it('reads a result from before the binding as it is', () => {
    const h = new History();
    generated(h, { result: { auditSeqs: [301] } });
    expect(foldActivities(h.events, RUN_OF)[0]).toMatchObject({ auditSeqs: [301] });
    expect(foldActivities(h.events, RUN_OF)[0]!.unboundResult).toBeUndefined();
  });
});
