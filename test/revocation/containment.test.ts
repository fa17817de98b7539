import { afterAll, describe, expect, it } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { consumeStartNonce, newStartNonce } from '../../agents/shared/run-starts.js';
import { confirmRevocation, containKeyCompromise, containToken, isContainmentPause, liftContainment } from '../../agents/revocation-responder/containment.js';
import { getPause, isPaused, pauseIssuance } from '../../agents/token-issuer/issuance-control.js';
import { testPool, unique } from '../support/db.js';
import { activeKid, auditCount, auditEntries, base, client, entries, pendingKid, responder, world } from './support.js';

const pool = testPool();
afterAll(() => pool.end());

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isKeyturnError(e) ? e.code : `not a KeyturnError: ${String(e)}`;
  }
  return 'resolved';
}

describe('containKeyCompromise', () => {
  it('of the active key pauses issuance for the issuer, adds a temporary kid entry and audits it', async () => {
    const w = await world(pool);
    const owner = await client(pool);
    await w.tokens.issue({ issuer: w.issuer, clientId: owner.clientId, authentication: 'in-process' });
    const kid = await activeKid(w);

    const c = await containKeyCompromise(pool, { ...base, issuer: w.issuer, kid, reason: 'key seen in a public paste' });

    expect(c).toMatchObject({ issuer: w.issuer, kid, keyState: 'active', pausedIssuance: true, issuancePaused: true, temporary: true, changed: true });
    expect(await isPaused(pool, w.issuer)).toBe(true);
    expect(isContainmentPause(await getPause(pool, w.issuer), kid)).toBe(true);
    expect(await code(w.tokens.issue({ issuer: w.issuer, clientId: owner.clientId, authentication: 'in-process' }))).toBe('ISSUANCE_PAUSED');
    expect(await entries(pool, 'kid', kid)).toEqual([expect.objectContaining({ id: c.revocationId, temporary: true, expires_at: new Date(c.expiresAt) })]);
    const audit = await auditEntries(pool, 'revocation.contained', 'kid', kid);
    expect(audit).toEqual([expect.objectContaining({ outcome: 'ok', actor: responder })]);
    expect(audit[0]!.details).toMatchObject({ keyState: 'active', pausedIssuanceNow: true, revocationId: c.revocationId, temporary: true });
    expect(await auditCount(pool, 'issuance.pause', 'issuer', w.issuer)).toBe(1);
  });

  it('of a key that is not active deny-lists it but does not pause issuance', async () => {
    const w = await world(pool);
    const owner = await client(pool);
    const kid = await pendingKid(w);

    const c = await containKeyCompromise(pool, { ...base, issuer: w.issuer, kid, reason: 'pending key leaked' });

    expect(c).toMatchObject({ keyState: 'pending', pausedIssuance: false, issuancePaused: false, temporary: true, changed: true });
    expect(await isPaused(pool, w.issuer)).toBe(false);
    await expect(w.tokens.issue({ issuer: w.issuer, clientId: owner.clientId, authentication: 'in-process' })).resolves.toMatchObject({ kid: await activeKid(w) });
    expect(await entries(pool, 'kid', kid)).toEqual([expect.objectContaining({ temporary: true })]);
  });

  it('is idempotent: a second identical call writes nothing and reports the same containment', async () => {
    const w = await world(pool);
    const kid = await activeKid(w);
    const req = { ...base, issuer: w.issuer, kid, reason: 'duplicate delivery' };
    const first = await containKeyCompromise(pool, req);
    const before = await entries(pool, 'kid', kid);

    const second = await containKeyCompromise(pool, req);

    expect(second).toEqual({ ...first, changed: false });
    expect(await entries(pool, 'kid', kid)).toEqual(before);
    expect(await auditCount(pool, 'revocation.contained', 'kid', kid)).toBe(1);
    expect(await auditCount(pool, 'issuance.pause', 'issuer', w.issuer)).toBe(1);
  });

  it('run twice at once contains once', async () => {
    const w = await world(pool);
    const kid = await activeKid(w);
    const req = { ...base, issuer: w.issuer, kid, reason: 'two alerts at once' };
    const results = await Promise.all([containKeyCompromise(pool, req), containKeyCompromise(pool, req)]);
    expect(results.map((r) => r.changed).sort()).toEqual([false, true]);
    expect(await entries(pool, 'kid', kid)).toHaveLength(1);
    expect(await auditCount(pool, 'revocation.contained', 'kid', kid)).toBe(1);
  });

  it('refuses a kid of another issuer, writing nothing and auditing the refusal', async () => {
    const [a, b] = [await world(pool), await world(pool)];
    const kid = await activeKid(a);
    expect(await code(containKeyCompromise(pool, { ...base, issuer: b.issuer, kid, reason: 'wrong issuer' }))).toBe('REVOCATION_INVALID');
    expect(await entries(pool, 'kid', kid)).toEqual([]);
    expect(await isPaused(pool, b.issuer)).toBe(false);
    expect((await auditEntries(pool, 'revocation.contained', 'kid', kid)).map((e) => e.outcome)).toEqual(['refused']);
  });
});

describe('liftContainment (false alarm)', () => {
  it('lifts the temporary kid entry and resumes issuance with the same key, audited as revocation.false_alarm', async () => {
    const w = await world(pool);
    const owner = await client(pool);
    const kid = await activeKid(w);
    const c = await containKeyCompromise(pool, { ...base, issuer: w.issuer, kid, reason: 'alert' });

    const lift = await liftContainment(pool, { ...base, kind: 'kid', issuer: w.issuer, kid, reason: 'the paste held a revoked test key' });

    expect(lift).toEqual({ liftedRevocationId: c.revocationId, resumedIssuance: true, activeKid: kid, changed: true });
    expect(await entries(pool, 'kid', kid)).toEqual([]);
    expect(await isPaused(pool, w.issuer)).toBe(false);
    await expect(w.tokens.issue({ issuer: w.issuer, clientId: owner.clientId, authentication: 'in-process' })).resolves.toMatchObject({ kid });
    expect((await auditEntries(pool, 'revocation.false_alarm', 'kid', kid)).map((e) => e.outcome)).toEqual(['ok']);
    expect(await auditCount(pool, 'issuance.resume', 'issuer', w.issuer)).toBe(1);

    // Idempotent: nothing left to lift.
    expect(await liftContainment(pool, { ...base, kind: 'kid', issuer: w.issuer, kid, reason: 'again' })).toEqual({ liftedRevocationId: null, resumedIssuance: false, activeKid: kid, changed: false });
    expect(await auditCount(pool, 'revocation.false_alarm', 'kid', kid)).toBe(1);
  });

  it('leaves a pause that a containment of this kid did not write', async () => {
    const w = await world(pool);
    const kid = await activeKid(w);
    await pauseIssuance(pool, w.issuer, 'maintenance by a human', { role: 'Human', cliUser: 'alice' });
    const c = await containKeyCompromise(pool, { ...base, issuer: w.issuer, kid, reason: 'alert' });
    expect(c).toMatchObject({ pausedIssuance: false, issuancePaused: true, changed: true });

    const lift = await liftContainment(pool, { ...base, kind: 'kid', issuer: w.issuer, kid, reason: 'false alarm' });

    expect(lift).toMatchObject({ liftedRevocationId: c.revocationId, resumedIssuance: false, changed: true });
    expect((await getPause(pool, w.issuer))!.reason).toBe('maintenance by a human');
  });
});

describe('containToken / confirmRevocation', () => {
  it('contains a jti temporarily (idempotently), confirms it permanent, and then refuses to lift it', async () => {
    const jti = unique('jti');
    const expiresAt = new Date(Date.now() + 600_000);
    const req = { ...base, kind: 'jti' as const, value: jti, expiresAt, reason: 'token in a log line' };

    const c = await containToken(pool, req);
    expect(c).toMatchObject({ kind: 'jti', value: jti, temporary: true, expiresAt: expiresAt.toISOString(), changed: true });
    expect(await containToken(pool, req)).toEqual({ ...c, changed: false });
    expect(await entries(pool, 'jti', jti)).toEqual([expect.objectContaining({ id: c.revocationId, temporary: true, expires_at: expiresAt })]);
    expect(await auditCount(pool, 'revocation.contained', 'jti', jti)).toBe(1);

    const conf = await confirmRevocation(pool, { ...base, kind: 'jti', value: jti, expiresAt, reason: 'approved by the security lead' });
    expect(conf).toEqual({ revocationId: c.revocationId, expiresAt: expiresAt.toISOString(), changed: true });
    expect(await entries(pool, 'jti', jti)).toEqual([expect.objectContaining({ temporary: false })]);
    expect(await confirmRevocation(pool, { ...base, kind: 'jti', value: jti, expiresAt, reason: 'again' })).toMatchObject({ changed: false });
    expect(await auditCount(pool, 'revocation.confirmed', 'jti', jti)).toBe(1);

    expect(await code(liftContainment(pool, { ...base, kind: 'jti', value: jti, reason: 'oops' }))).toBe('REVOCATION_PERMANENT');
    expect(await entries(pool, 'jti', jti)).toHaveLength(1);
    expect((await auditEntries(pool, 'revocation.false_alarm', 'jti', jti)).map((e) => e.outcome)).toEqual(['refused']);
  });

  it("a run's own false alarm leaves an entry confirmed meanwhile by someone else standing, and records why", async () => {
    const jti = unique('jti');
    const expiresAt = new Date(Date.now() + 600_000);
    await containToken(pool, { ...base, kind: 'jti', value: jti, expiresAt, reason: 'token in a log line' });
    const conf = await confirmRevocation(pool, { ...base, kind: 'jti', value: jti, expiresAt, reason: 'confirmed by another run' });
    const lift = await liftContainment(pool, { ...base, kind: 'jti', value: jti, reason: 'false alarm', confirmedElsewhereStands: true });
    expect(lift).toEqual({ liftedRevocationId: null, resumedIssuance: false, confirmedRevocationId: conf.revocationId, changed: true });
    expect(await entries(pool, 'jti', jti)).toEqual([expect.objectContaining({ temporary: false })]);
    expect((await auditEntries(pool, 'revocation.false_alarm', 'jti', jti)).map((e) => [e.outcome, e.details.confirmedRevocationId])).toEqual([['ok', conf.revocationId]]);
  });

  it('contains a subject before an instant and lifts it as a false alarm', async () => {
    const sub = unique('client');
    const before = new Date(Date.now() - 1000);
    const expiresAt = new Date(Date.now() + 3600_000);
    const c = await containToken(pool, { ...base, kind: 'sub', value: sub, before, expiresAt, reason: 'client secret leaked' });
    expect(c).toMatchObject({ kind: 'sub', before: before.toISOString(), temporary: true, changed: true });
    expect(await entries(pool, 'sub', sub)).toEqual([expect.objectContaining({ not_before: before, temporary: true })]);

    const lift = await liftContainment(pool, { ...base, kind: 'sub', value: sub, before: before.toISOString(), reason: 'false alarm' });
    expect(lift).toEqual({ liftedRevocationId: c.revocationId, resumedIssuance: false, changed: true });
    expect(await entries(pool, 'sub', sub)).toEqual([]);
    expect((await auditEntries(pool, 'revocation.false_alarm', 'sub', sub)).map((e) => e.outcome)).toEqual(['ok']);
  });

  it('confirms a lapsed containment by writing a permanent entry (fail closed), and does nothing once every token expired', async () => {
    const jti = unique('jti');
    const later = new Date(Date.now() + 600_000);
    expect(await confirmRevocation(pool, { ...base, kind: 'jti', value: jti, expiresAt: later, reason: 'approved' })).toMatchObject({ changed: true });
    expect(await entries(pool, 'jti', jti)).toEqual([expect.objectContaining({ temporary: false, expires_at: later })]);

    const gone = unique('jti');
    expect(await confirmRevocation(pool, { ...base, kind: 'jti', value: gone, expiresAt: new Date(Date.now() - 1000), reason: 'approved' })).toEqual({
      revocationId: null,
      expiresAt: expect.any(String),
      changed: false,
    });
    expect(await entries(pool, 'jti', gone)).toEqual([]);
  });

  it('commits its caller\'s work with the entry, the caller\'s audit entries just before its own', async () => {
    const jti = unique('jti');
    const start = { nonce: newStartNonce(), workflowId: unique('revoke'), runId: 'run-1' };
    await containToken(pool, { ...base, kind: 'jti', value: jti, expiresAt: new Date(Date.now() + 600_000), reason: 'r' }, {
      commitWith: {
        first: (tx) => consumeStartNonce(tx, start),
        audit: async (tx) => void (await appendAudit(tx, { ...base, action: 'revocation.planned', subject: { jti }, outcome: 'ok' })),
      },
    });
    expect(await entries(pool, 'jti', jti)).toHaveLength(1);
    expect((await pool.query('SELECT 1 FROM run_starts WHERE nonce = $1', [start.nonce])).rowCount).toBe(1);
    const actions = await pool.query<{ action: string }>(`SELECT action FROM audit_log WHERE subject ->> 'jti' = $1 ORDER BY seq`, [jti]);
    expect(actions.rows.map((r) => r.action)).toEqual(['revocation.planned', 'revocation.contained']);
  });

  it('retried with the same request id after a lost reply, extends the entry but appends no second audit entry', async () => {
    const jti = unique('jti');
    const req = { ...base, kind: 'jti' as const, value: jti, reason: 'r', requestId: unique('run:contain') };
    await containToken(pool, { ...req, expiresAt: new Date(Date.now() + 600_000) });
    const later = new Date(Date.now() + 660_000);
    await containToken(pool, { ...req, expiresAt: later });
    expect(await entries(pool, 'jti', jti)).toEqual([expect.objectContaining({ expires_at: later })]);
    expect(await auditCount(pool, 'revocation.contained', 'jti', jti)).toBe(1);
  });

  it('rolls its caller\'s work back when the containment fails after it', async () => {
    const jti = unique('jti');
    const start = { nonce: newStartNonce(), workflowId: unique('revoke'), runId: 'run-1' };
    const failingAudit: typeof appendAudit = async (db, entry) => {
      if (entry.action === 'revocation.contained') throw new Error('the audit log is unavailable');
      return appendAudit(db, entry);
    };
    const failing = containToken(pool, { ...base, kind: 'jti', value: jti, expiresAt: new Date(Date.now() + 600_000), reason: 'r' }, {
      appendAudit: failingAudit,
      commitWith: { first: (tx) => consumeStartNonce(tx, start), audit: async (tx) => void (await appendAudit(tx, { ...base, action: 'revocation.planned', subject: { jti }, outcome: 'ok' })) },
    });
    await expect(failing).rejects.toThrow('the audit log is unavailable');
    expect(await entries(pool, 'jti', jti)).toEqual([]);
    expect((await pool.query('SELECT 1 FROM run_starts WHERE nonce = $1', [start.nonce])).rowCount).toBe(0);
    expect(await auditCount(pool, 'revocation.planned', 'jti', jti)).toBe(0);
  });

  it('writes no entry and no audit record when its caller\'s first step fails', async () => {
    const jti = unique('jti');
    const failing = containToken(pool, { ...base, kind: 'jti', value: jti, expiresAt: new Date(Date.now() + 600_000), reason: 'r' }, {
      commitWith: {
        first: async () => {
          throw new Error('the run start was refused');
        },
      },
    });
    await expect(failing).rejects.toThrow('the run start was refused');
    expect(await entries(pool, 'jti', jti)).toEqual([]);
    expect(await auditCount(pool, 'revocation.contained', 'jti', jti)).toBe(0);
  });

  it('refuses kid targets and `before` on a jti', async () => {
    const expiresAt = new Date(Date.now() + 1000);
    expect(await code(containToken(pool, { ...base, kind: 'kid' as never, value: 'k', expiresAt, reason: 'r' }))).toBe('REVOCATION_INVALID');
    expect(await code(containToken(pool, { ...base, kind: 'jti', value: 'j', before: new Date(), expiresAt, reason: 'r' }))).toBe('REVOCATION_INVALID');
    expect(await code(confirmRevocation(pool, { ...base, kind: 'jti', value: 'j', expiresAt: 'tomorrow', reason: 'r' }))).toBe('REVOCATION_INVALID');
  });
});
