import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { isolatedDatabase, sampleEntry, type IsolatedDb } from './support.js';

// Isolated: if the database ever let these through, the shared chain would break for every file.
let db: IsolatedDb;
beforeAll(async () => {
  db = await isolatedDatabase();
  await appendAudit(db.app, sampleEntry());
  await db.app.query(`INSERT INTO audit_checkpoints (at, seq, head_hash, jws) VALUES (now(), 1, repeat('0', 64), 'x.y.z')`);
});
afterAll(() => db.drop());

describe('audit tables are append-only for keyturn_app', () => {
  it('refuses UPDATE on audit_log', async () => {
    await expect(db.app.query(`UPDATE audit_log SET outcome = 'failed'`)).rejects.toThrow(/permission denied for table audit_log/);
  });

  it('refuses DELETE on audit_log', async () => {
    await expect(db.app.query('DELETE FROM audit_log')).rejects.toThrow(/permission denied for table audit_log/);
  });

  it('refuses TRUNCATE on audit_log', async () => {
    await expect(db.app.query('TRUNCATE audit_log')).rejects.toThrow(/permission denied for table audit_log/);
  });

  it('refuses UPDATE, DELETE and TRUNCATE on audit_checkpoints', async () => {
    await expect(db.app.query(`UPDATE audit_checkpoints SET jws = 'a.b.c'`)).rejects.toThrow(/permission denied for table audit_checkpoints/);
    await expect(db.app.query('DELETE FROM audit_checkpoints')).rejects.toThrow(/permission denied for table audit_checkpoints/);
    await expect(db.app.query('TRUNCATE audit_checkpoints')).rejects.toThrow(/permission denied for table audit_checkpoints/);
  });

  it('still lets keyturn_app SELECT and INSERT', async () => {
    const { rows } = await db.app.query('SELECT count(*)::int AS n FROM audit_log');
    expect(rows[0].n).toBe(1);
  });
});

describe('append-only triggers stop even a superuser until disabled', () => {
  it('refuses UPDATE by trigger', async () => {
    await expect(db.su.query(`UPDATE audit_log SET outcome = 'failed'`)).rejects.toThrow(/append-only: UPDATE on audit_log refused/);
  });

  it('refuses DELETE by trigger', async () => {
    await expect(db.su.query('DELETE FROM audit_log')).rejects.toThrow(/append-only: DELETE on audit_log refused/);
  });

  it('refuses TRUNCATE by trigger', async () => {
    await expect(db.su.query('TRUNCATE audit_log')).rejects.toThrow(/append-only: TRUNCATE on audit_log refused/);
  });
});
