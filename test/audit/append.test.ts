import { afterAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { entryHash } from '../../agents/auditor/chain.js';
import { listAudit } from '../../agents/auditor/queries.js';
import { inTransaction } from '../../db/pool.js';
import { testPool, unique } from '../support/db.js';
import { sampleEntry } from './support.js';

const pool = testPool();
afterAll(() => pool.end());

describe('appendAudit', () => {
  it('links each entry to the previous one: prev_hash equals the prior hash', async () => {
    const { first, second } = await inTransaction(pool, async (c) => ({
      first: await appendAudit(c, sampleEntry()),
      second: await appendAudit(c, sampleEntry({ action: 'key.activate' })),
    }));
    expect(second.seq).toBe(first.seq + 1);
    expect(second.prevHash).toBe(first.hash);
  });

  it('stores exactly what it hashed, so the stored row re-hashes to its hash', async () => {
    const written = await appendAudit(pool, sampleEntry({ details: { n: 1.5, nested: { b: 1, a: [true, null] }, dropped: undefined } }));
    const [stored] = await listAudit(pool, { sinceSeq: written.seq - 1, limit: 1 });
    expect(stored).toEqual(written);
    expect(entryHash(stored!)).toBe(stored!.hash);
  });

  it('returns the existing entry for a replayed requestId (details may differ between attempts) and appends nothing', async () => {
    const requestId = unique('req');
    const entry = sampleEntry({ requestId });
    const first = await appendAudit(pool, entry);
    const again = await appendAudit(pool, { ...entry, details: { alg: 'EdDSA', attempt: 2 } });
    expect(again).toEqual(first);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM audit_log WHERE request_id = $1', [requestId]);
    expect(rows[0].n).toBe(1);
  });

  it('an entry already holding the requestId for another action or subject is AUDIT_REQUEST_ID_CONFLICT, and nothing is appended', async () => {
    const requestId = unique('req');
    const planted = await appendAudit(pool, sampleEntry({ requestId, action: 'noop' }));
    await expect(appendAudit(pool, sampleEntry({ requestId, action: 'key.revoke', subject: planted.subject }))).rejects.toMatchObject({ code: 'AUDIT_REQUEST_ID_CONFLICT' });
    await expect(appendAudit(pool, sampleEntry({ requestId, action: 'noop' }))).rejects.toMatchObject({ code: 'AUDIT_REQUEST_ID_CONFLICT' });
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM audit_log WHERE request_id = $1', [requestId]);
    expect(rows[0].n).toBe(1);
  });

  it('commits or rolls back with the caller\'s transaction', async () => {
    const kid = unique('kid');
    await expect(
      inTransaction(pool, async (c) => {
        await appendAudit(c, sampleEntry({ subject: { kid } }));
        throw new Error('effect failed');
      }),
    ).rejects.toThrow('effect failed');
    const { rowCount } = await pool.query(`SELECT 1 FROM audit_log WHERE subject ->> 'kid' = $1`, [kid]);
    expect(rowCount).toBe(0);
  });

  it('keeps seq gap-free and chained under 20 concurrent appends', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => inTransaction(pool, (c) => appendAudit(c, sampleEntry()))));
    const seqs = results.map((r) => r.seq).sort((a, b) => a - b);
    const { rows } = await pool.query<{ seq: string; prev_hash: string; hash: string }>(
      'SELECT seq::text AS seq, prev_hash, hash FROM audit_log WHERE seq BETWEEN $1 AND $2 ORDER BY audit_log.seq',
      [seqs[0]! - 1, seqs[seqs.length - 1]],
    );
    for (let i = 1; i < rows.length; i++) {
      expect(Number(rows[i]!.seq)).toBe(Number(rows[i - 1]!.seq) + 1);
      expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);
    }
  });

  it('refuses a malformed entry with AUDIT_ENTRY_INVALID', async () => {
    await expect(appendAudit(pool, sampleEntry({ action: 'not a verb' }))).rejects.toMatchObject({ code: 'AUDIT_ENTRY_INVALID' });
  });
});
