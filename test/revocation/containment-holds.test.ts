import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containKeyCompromise, containToken, liftContainment } from '../../agents/revocation-responder/containment.js';
import { keepHeldContainments } from '../../agents/revocation-responder/containment-holds.js';
import type { LedgerRun, RunState } from '../../agents/shared/activity-calls.js';
import { isPaused } from '../../agents/token-issuer/issuance-control.js';
import { fixedClock } from '../../agents/shared/clock.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { activeKid, auditEntries, base, entries, POLICY_VERSION, world, type World } from './support.js';

const DAY_MS = 86_400_000;
const run = (n: number): LedgerRun => ({ workflowId: `revoke-kid-${n}`, runId: `run-${n}` });

/**
 * A contained key waits for sign-off with no end, but its temporary kid entry is written to lapse
 * after 7 days. The worker keeps it in force while the run that holds it is open. Each test has a
 * database of its own: the keeper looks at every held entry.
 */
describe('keepHeldContainments', () => {
  let db: PolicyDb;
  let w: World;
  let kid: string;
  beforeEach(async () => {
    db = await policyDatabase();
    w = await world(db.app);
    kid = await activeKid(w);
  });
  afterEach(() => db.drop());

  const states = (m: Record<string, RunState>) => async (workflowId: string): Promise<RunState> => m[workflowId] ?? 'unknown';
  const keep = (stateOf: (workflowId: string) => Promise<RunState>, daysLater: number) =>
    keepHeldContainments(db.app, stateOf, { clock: fixedClock(new Date(Date.now() + daysLater * DAY_MS)), policyVersion: POLICY_VERSION });
  const expiry = async () => (await entries(db.app, 'kid', kid))[0]!.expires_at.getTime();
  const contain = (heldBy?: LedgerRun) => containKeyCompromise(db.app, { ...base, issuer: w.issuer, kid, reason: 'key seen in a paste', ...(heldBy ? { heldBy } : {}) });

  it('moves the entry of a run still waiting for sign-off 7 days past now, audits it and tells validators', async () => {
    await contain(run(1));
    const notices: string[] = [];
    const listener = await db.listener();
    listener.on('notification', (m) => notices.push(m.payload ?? ''));
    await listener.query('LISTEN keyturn_revocations');
    try {
      expect(await keep(states({ [run(1).workflowId]: 'open' }), 5)).toEqual({ kept: 1, released: 0, orphaned: 0 });
      expect(await expiry()).toBeGreaterThan(Date.now() + 11.9 * DAY_MS);
      const audit = await auditEntries(db.app, 'revocation.containment_kept', 'kid', kid);
      expect(audit).toEqual([expect.objectContaining({ outcome: 'ok', details: expect.objectContaining({ heldBy: [{ workflowId: run(1).workflowId, state: 'open' }] }) })]);
      await new Promise((r) => setTimeout(r, 100));
      expect(notices.map((n) => JSON.parse(n) as { kind: string; value: string })).toContainEqual(expect.objectContaining({ kind: 'kid', value: kid }));
    } finally {
      await listener.end();
    }
  });

  it('lets the entry of a closed run lapse as it would have, drops the hold and records the containment as orphaned', async () => {
    await contain(run(1));
    const before = await expiry();
    expect(await keep(states({ [run(1).workflowId]: 'closed' }), 5)).toEqual({ kept: 0, released: 1, orphaned: 1 });
    expect(await expiry()).toBe(before);
    expect((await db.app.query('SELECT 1 FROM containment_holds')).rowCount).toBe(0);
    expect(await auditEntries(db.app, 'revocation.containment_orphaned', 'kid', kid)).toEqual([expect.objectContaining({ details: expect.objectContaining({ releasedFor: [run(1).workflowId] }) })]);
  });

  it('lets a new revocation of the key settle an orphaned containment: its false alarm lifts the entry and resumes issuance', async () => {
    await contain(run(1));
    expect((await keep(states({ [run(1).workflowId]: 'closed' }), 5)).orphaned).toBe(1);
    expect(await isPaused(db.app, w.issuer)).toBe(true);

    await contain(run(2));
    expect(await liftContainment(db.app, { ...base, kind: 'kid', issuer: w.issuer, kid, reason: 'false alarm', heldBy: run(2) }, { holderState: states({}) })).toMatchObject({ resumedIssuance: true });

    expect(await entries(db.app, 'kid', kid)).toEqual([]);
    expect(await isPaused(db.app, w.issuer)).toBe(false);
  });

  it('holds by workflow: a run reset to an earlier point holds what its first run held', async () => {
    await contain(run(1));
    await contain({ workflowId: run(1).workflowId, runId: 'run-after-reset' });
    expect((await db.app.query('SELECT run_id FROM containment_holds')).rows).toEqual([{ run_id: run(1).runId }]);
    expect(await liftContainment(db.app, { ...base, kind: 'kid', issuer: w.issuer, kid, reason: 'false alarm', heldBy: { workflowId: run(1).workflowId, runId: 'run-after-reset' } }, { holderState: states({}) })).toMatchObject({ resumedIssuance: true });
    expect(await entries(db.app, 'kid', kid)).toEqual([]);
  });

  it('never moves an entry that has already ended', async () => {
    await contain(run(1));
    expect(await keep(states({ [run(1).workflowId]: 'open' }), 8)).toEqual({ kept: 0, released: 0, orphaned: 0 });
  });

  it('audits a run joining a containment another run holds, once', async () => {
    await contain(run(1));
    await contain(run(2));
    await contain(run(2));
    const joined = (await auditEntries(db.app, 'revocation.contained', 'kid', kid)).filter((e) => e.details.joined === true);
    expect(joined).toEqual([expect.objectContaining({ details: expect.objectContaining({ heldBy: run(2).workflowId }) })]);
  });

  it('keeps the entry when the run\'s state cannot be read: a containment fails closed', async () => {
    await contain(run(1));
    expect(await keep(states({}), 5)).toEqual({ kept: 1, released: 0, orphaned: 0 });
  });

  it('keeps an entry two runs hold while one of them is open, and drops the closed one\'s hold', async () => {
    await contain(run(1));
    await contain(run(2));
    expect(await keep(states({ [run(1).workflowId]: 'closed', [run(2).workflowId]: 'open' }), 5)).toEqual({ kept: 1, released: 1, orphaned: 0 });
    expect((await db.app.query<{ workflow_id: string }>('SELECT workflow_id FROM containment_holds')).rows).toEqual([{ workflow_id: run(2).workflowId }]);
    expect((await auditEntries(db.app, 'revocation.containment_kept', 'kid', kid))[0]!.details).toMatchObject({ releasedFor: [run(1).workflowId] });
  });

  it('leaves alone an entry far from its end, and one no run holds', async () => {
    await contain(run(1));
    const before = await expiry();
    expect(await keep(states({ [run(1).workflowId]: 'open' }), 1)).toEqual({ kept: 0, released: 0, orphaned: 0 });
    await db.app.query('DELETE FROM containment_holds');
    expect(await keep(states({}), 6)).toEqual({ kept: 0, released: 0, orphaned: 0 });
    expect(await expiry()).toBe(before);
  });

  it('never touches an entry once it is permanent', async () => {
    await contain(run(1));
    await db.app.query(`UPDATE revocations SET temporary = false WHERE kind = 'kid' AND value = $1`, [kid]);
    const before = await expiry();
    expect(await keep(states({ [run(1).workflowId]: 'open' }), 6)).toEqual({ kept: 0, released: 0, orphaned: 0 });
    expect(await expiry()).toBe(before);
  });

  describe('a false alarm of one of two runs holding the containment', () => {
    const lift = (self: LedgerRun, others: Record<string, RunState>) =>
      liftContainment(db.app, { ...base, kind: 'kid', issuer: w.issuer, kid, reason: 'false alarm', heldBy: self }, { holderState: states(others) });

    it('lifts it when the other run is closed, dropping that run\'s hold', async () => {
      await contain(run(1));
      await contain(run(2));
      expect(await lift(run(2), { [run(1).workflowId]: 'closed' })).toMatchObject({ liftedRevocationId: expect.any(String), resumedIssuance: true });
      expect(await entries(db.app, 'kid', kid)).toEqual([]);
    });

    it('keeps it, and the pause, while the other run is open or its state cannot be read', async () => {
      await contain(run(1));
      await contain(run(2));
      expect(await lift(run(2), {})).toMatchObject({ liftedRevocationId: null, resumedIssuance: false, keptFor: [{ workflowId: run(1).workflowId, state: 'unknown' }] });
      expect(await entries(db.app, 'kid', kid)).toHaveLength(1);
      expect(await isPaused(db.app, w.issuer)).toBe(true);
      expect((await db.app.query<{ workflow_id: string }>('SELECT workflow_id FROM containment_holds')).rows).toEqual([{ workflow_id: run(1).workflowId }]);
      expect(await lift(run(1), {})).toMatchObject({ resumedIssuance: true });
      expect(await entries(db.app, 'kid', kid)).toEqual([]);
    });
  });

  it("a token's containment held by two runs is kept by one's false alarm while the other is open, and never moved by the keeper", async () => {
    const jti = `jti-${run(9).runId}-${Date.now()}`;
    const tokenContain = (heldBy: LedgerRun) => containToken(db.app, { ...base, kind: 'jti', value: jti, reason: 'leaked', expiresAt: new Date(Date.now() + DAY_MS), heldBy });
    await tokenContain(run(1));
    await tokenContain(run(2));
    const liftBy = (self: LedgerRun, others: Record<string, RunState>) => liftContainment(db.app, { ...base, kind: 'jti', value: jti, reason: 'false alarm', heldBy: self }, { holderState: states(others) });
    expect(await liftBy(run(2), { [run(1).workflowId]: 'open' })).toMatchObject({ liftedRevocationId: null, keptFor: [{ workflowId: run(1).workflowId, state: 'open' }] });
    expect(await entries(db.app, 'jti', jti)).toHaveLength(1);
    expect(await keep(states({ [run(1).workflowId]: 'open' }), 0.5)).toEqual({ kept: 0, released: 0, orphaned: 0 });
    expect(await liftBy(run(1), {})).toMatchObject({ liftedRevocationId: expect.any(String) });
    expect(await entries(db.app, 'jti', jti)).toEqual([]);
  });
});
