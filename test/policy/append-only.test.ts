import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { bootstrapPolicy, storeAndActivate } from '../../agents/planner/policy-store.js';
import { policyVersion } from '../../agents/planner/policy.js';
import { docWith, policyDatabase, type PolicyDb } from './support.js';

let db: PolicyDb;
beforeAll(async () => {
  db = await policyDatabase();
  await bootstrapPolicy(db.app, docWith(), appendAudit, { role: 'Orchestrator' });
  await storeAndActivate(db.app, { text: docWith(), approvers: ['U0LEAD1'], reason: 'r', requester: 'cli:alice' }, appendAudit);
});
afterAll(() => db.drop());

describe('policy tables are append-only for keyturn_app', () => {
  it('refuses UPDATE of an activation', async () => {
    await expect(db.app.query(`UPDATE policy_activations SET approved_by = '{U0EVIL}'`)).rejects.toThrow(/permission denied for table policy_activations/);
  });

  it('refuses DELETE of an activation', async () => {
    await expect(db.app.query('DELETE FROM policy_activations')).rejects.toThrow(/permission denied for table policy_activations/);
  });

  it('refuses UPDATE, DELETE and TRUNCATE of a stored version', async () => {
    await expect(db.app.query(`UPDATE policy_versions SET summary = NULL`)).rejects.toThrow(/permission denied for table policy_versions/);
    await expect(db.app.query('DELETE FROM policy_versions')).rejects.toThrow(/permission denied for table policy_versions/);
    await expect(db.app.query('TRUNCATE policy_versions CASCADE')).rejects.toThrow(/permission denied for table policy_versions/);
  });
});

describe('append-only triggers stop even a superuser until disabled', () => {
  it('refuses UPDATE by trigger', async () => {
    await expect(db.su.query(`UPDATE policy_activations SET reason = 'rewritten'`)).rejects.toThrow(/append-only: UPDATE on policy_activations refused/);
  });

  it('refuses DELETE by trigger', async () => {
    await expect(db.su.query('DELETE FROM policy_activations')).rejects.toThrow(/append-only: DELETE on policy_activations refused/);
  });

  it('refuses TRUNCATE by trigger', async () => {
    await expect(db.su.query('TRUNCATE policy_activations')).rejects.toThrow(/append-only: TRUNCATE on policy_activations refused/);
  });
});

describe('the history stays one line, whatever the application does', () => {
  it('refuses a second activation superseding the same one (a fork)', async () => {
    const { rows } = await db.app.query<{ seq: string; version: string }>('SELECT seq::text AS seq, version FROM policy_activations ORDER BY seq LIMIT 1');
    await expect(
      db.app.query(`INSERT INTO policy_activations (version, previous_seq, approved_by, reason, requested_by) VALUES ($1, $2, '{U0LEAD1}', 'fork', 'cli:mallory')`, [rows[0]!.version, rows[0]!.seq]),
    ).rejects.toThrow(/duplicate key value violates unique constraint/);
  });

  it('refuses a second root (bootstrap) written directly', async () => {
    const { rows } = await db.app.query<{ version: string }>('SELECT version FROM policy_versions LIMIT 1');
    await expect(db.app.query(`INSERT INTO policy_activations (version, reason, requested_by) VALUES ($1, 'again', 'cli:mallory')`, [rows[0]!.version])).rejects.toThrow(/policy_activations_one_bootstrap/);
  });

  it('refuses an activation without approvers written directly', async () => {
    const { rows } = await db.app.query<{ seq: string; version: string }>('SELECT seq::text AS seq, version FROM policy_activations ORDER BY seq DESC LIMIT 1');
    await expect(
      db.app.query(`INSERT INTO policy_activations (version, previous_seq, reason, requested_by) VALUES ($1, $2, 'unapproved', 'cli:mallory')`, [rows[0]!.version, rows[0]!.seq]),
    ).rejects.toThrow(/violates check constraint/);
  });

  it('refuses a stored document whose version is not its sha256', async () => {
    const text = docWith();
    await expect(db.app.query('INSERT INTO policy_versions (version, document) VALUES ($1, $2)', [policyVersion(`${text} `), text])).rejects.toThrow(/violates check constraint/);
  });
});
