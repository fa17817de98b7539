import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { entryHash } from '../../agents/auditor/chain.js';
import { listAudit } from '../../agents/auditor/queries.js';
import type { AuditEntry } from '../../agents/auditor/types.js';
import { verifyAuditChain } from '../../agents/auditor/verify.js';
import { inTransaction } from '../../db/pool.js';
import { isolatedDatabase, sampleEntry, type IsolatedDb } from './support.js';

// Every test here tampers, so each gets its own freshly migrated database.
let db: IsolatedDb;
let entries: AuditEntry[];
beforeEach(async () => {
  db = await isolatedDatabase();
  for (let i = 0; i < 5; i++) await appendAudit(db.app, sampleEntry({ details: { i } }));
  entries = await listAudit(db.app);
});
afterEach(() => db.drop());

/** What an attacker with superuser rights does: switch the trigger off, change history, switch it back. */
async function tamper(sql: string): Promise<void> {
  await db.su.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete');
  await db.su.query(sql);
  await db.su.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete');
}

describe('verifyAuditChain', () => {
  it('accepts an intact chain, naming the entries no checkpoint covers', async () => {
    expect(await verifyAuditChain(db.app, null)).toEqual({ ok: true, entries: 5, checkpoints: 0, witnessed: 0, headSeq: 5, headHash: entries[4]!.hash, uncovered: { fromSeq: 1, count: 5, oldestAt: entries[0]!.at } });
  });

  it('accepts 20 concurrent appends: gap-free and chained', async () => {
    await Promise.all(Array.from({ length: 20 }, () => inTransaction(db.app, (c) => appendAudit(c, sampleEntry()))));
    expect(await verifyAuditChain(db.app, null)).toMatchObject({ ok: true, entries: 25, headSeq: 25 });
  });

  it('finds a row a superuser altered: that seq, expected vs found hash', async () => {
    await tamper(`UPDATE audit_log SET outcome = 'refused' WHERE seq = 3`);
    const [altered] = await listAudit(db.app, { sinceSeq: 2, limit: 1 });
    expect(await verifyAuditChain(db.app, null)).toMatchObject({ ok: false, reason: 'hash-mismatch', seq: 3, expectedHash: entryHash(altered!), foundHash: entries[2]!.hash });
  });

  it('finds an altered row whose hash was recomputed, at the next seq', async () => {
    const forged = { ...entries[2]!, outcome: 'refused' as const };
    const forgedHash = entryHash(forged);
    await tamper(`UPDATE audit_log SET outcome = 'refused', hash = '${forgedHash}' WHERE seq = 3`);
    expect(await verifyAuditChain(db.app, null)).toMatchObject({ ok: false, reason: 'prev-hash-mismatch', seq: 4, expectedHash: forgedHash, foundHash: entries[2]!.hash });
  });

  it('finds a deleted row as a gap at the next seq', async () => {
    await tamper('DELETE FROM audit_log WHERE seq = 3');
    expect(await verifyAuditChain(db.app, null)).toMatchObject({ ok: false, reason: 'gap', seq: 4, expectedHash: entries[1]!.hash, foundHash: entries[2]!.hash });
  });

  it('finds a deleted genesis entry', async () => {
    await tamper('DELETE FROM audit_log WHERE seq = 1');
    expect(await verifyAuditChain(db.app, null)).toMatchObject({ ok: false, reason: 'gap', seq: 2 });
  });

  it('reports only the first broken link', async () => {
    await tamper(`UPDATE audit_log SET action = 'x.y' WHERE seq IN (2, 4)`);
    expect(await verifyAuditChain(db.app, null)).toMatchObject({ ok: false, seq: 2 });
  });
});
