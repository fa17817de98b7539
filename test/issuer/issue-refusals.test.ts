import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { testPool } from '../support/db.js';
import { app, basic, client, post, world } from './support.js';

const pool = testPool();
afterAll(() => pool.end());
const grant = { grant_type: 'client_credentials' };

/** The client's token.issue entries, oldest first. */
async function issueEntries(clientId: string): Promise<Array<{ outcome: string; details: Record<string, unknown> }>> {
  const { rows } = await pool.query<{ outcome: string; details: Record<string, unknown> }>(`SELECT outcome, details FROM audit_log WHERE action = 'token.issue' AND actor ->> 'client' = $1 ORDER BY seq`, [clientId]);
  return rows;
}

/** One refused request for a token; the app is closed afterwards, so every entry it owes is written. */
async function refusedOnce(form: Record<string, string>, audiences?: string[]) {
  const w = await world(pool, audiences ? { audiences } : {});
  const c = await client(pool, ['read']);
  const a = app(pool, w);
  const res = await post(a, '/oauth2/token', { ...grant, ...form }, { authorization: basic(c.clientId, c.secret) });
  await a.close();
  return { res, entries: await issueEntries(c.clientId) };
}

describe('scope and audience refusals of /oauth2/token in the audit log', () => {
  it("past its budget, a client's refusals are summarised: a burst writes the budget's entries and one summary", async () => {
    const w = await world(pool);
    const c = await client(pool, ['read']);
    const now = Date.now(); // one budget window throughout
    const a = app(pool, w, { auditBudget: { perClientWindow: 3, now: () => now } });
    for (let i = 0; i < 10; i++) expect((await post(a, '/oauth2/token', { ...grant, scope: `admin-${i}` }, { authorization: basic(c.clientId, c.secret) })).statusCode).toBe(400);
    await a.close(); // writes the summary of the window still open
    expect((await issueEntries(c.clientId)).map((e) => [e.outcome, e.details.code ?? e.details.reason, e.details.suppressed ?? null])).toEqual([
      ['refused', 'INVALID_SCOPE', null], ['refused', 'INVALID_SCOPE', null], ['refused', 'INVALID_SCOPE', null], ['refused', 'audit_budget_exceeded', 7],
    ]);
  });

  it('an entry describes many long requested scopes in bounded form: their count, the first few cut short, and a digest', async () => {
    const scopes = Array.from({ length: 200 }, (_, i) => `${String(i).padStart(3, '0')}-${'s'.repeat(66)}`); // 70 characters each
    const { res, entries } = await refusedOnce({ scope: scopes.join(' ') });
    expect(res.statusCode).toBe(400);
    expect(entries).toHaveLength(1);
    const { details } = entries[0]!;
    expect(details.requestedScopes).toEqual({ count: 200, first: scopes.slice(0, 5).map((s) => s.slice(0, 64)), partial: true, sha256: createHash('sha256').update(JSON.stringify(scopes)).digest('hex') });
    expect(JSON.stringify(details).length).toBeLessThan(1024);
  });

  it('an entry describes a very long requested audience in bounded form', async () => {
    const audience = `https://${'a'.repeat(15_000)}.test`;
    const { res, entries } = await refusedOnce({ audience });
    expect(res.statusCode).toBe(400);
    expect(entries).toHaveLength(1);
    const { details } = entries[0]!;
    expect(details.audience).toEqual({ count: 1, first: [audience.slice(0, 64)], partial: true, sha256: createHash('sha256').update(JSON.stringify([audience])).digest('hex') });
    expect(JSON.stringify(details).length).toBeLessThan(1024);
  });

  it('a short request is named in full', async () => {
    const { entries } = await refusedOnce({ audience: 'https://b.test' }, ['https://a.test']);
    expect(entries.map((e) => [e.details.code, e.details.audience])).toEqual([['INVALID_TARGET', expect.objectContaining({ count: 1, first: ['https://b.test'], partial: false })]]);
  });

  it('a refusal of a scope holding a character the audit log cannot store (NUL) is still audited, the character replaced', async () => {
    const { res, entries } = await refusedOnce({ scope: 'read ad\u0000min' });
    expect(res.statusCode).toBe(400);
    expect(entries.map((e) => e.details.requestedScopes)).toEqual([expect.objectContaining({ count: 2, first: ['read', 'ad\uFFFDmin'], partial: true })]);
  });
});
