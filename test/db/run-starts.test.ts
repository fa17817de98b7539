import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { consumeStartNonce, newStartNonce, purgeRunStarts, START_VALIDITY_DAYS } from '../../agents/shared/run-starts.js';
import { codeOf } from '../support/error-code.js';
import { testPool, unique } from '../support/db.js';

const pool = testPool();
afterAll(() => pool.end());

const DAY = 86_400_000;
const startOf = (nonce: string | undefined, prefix = 'rotate') => ({ nonce, workflowId: unique(prefix), runId: 'run-1' });
const consume = (start: ReturnType<typeof startOf>) => codeOf(() => consumeStartNonce(pool, start));

describe('start nonces: each start request is used by one run', () => {
  it('the first run consumes its nonce, and a retry of that run goes on', async () => {
    const start = startOf(newStartNonce());
    await consumeStartNonce(pool, start);
    await expect(consumeStartNonce(pool, start)).resolves.toBeUndefined();
  });

  it('the same start request under another workflow id, or as a new run of the same id, is refused with START_REPLAYED', async () => {
    const start = startOf(newStartNonce(), 'revoke');
    await consumeStartNonce(pool, start);
    expect(await consume({ ...start, workflowId: unique('revoke-copy') })).toBe('START_REPLAYED');
    expect(await consume({ ...start, runId: 'run-2' })).toBe('START_REPLAYED');
  });

  it('a start request without a nonce, with an undated or a malformed one, is refused with START_NONCE_MISSING', async () => {
    const undated = randomBytes(16).toString('base64url');
    for (const nonce of [undefined, '', 'short', undated, 't_'.padEnd(30, 'x'), "x'; DROP TABLE run_starts; --".padEnd(30, 'x')]) {
      expect(await consume(startOf(nonce, 'policy'))).toBe('START_NONCE_MISSING');
    }
  });

  it('a run that already holds an undated nonce (started before nonces were dated) goes on when retried', async () => {
    const start = startOf(randomBytes(16).toString('base64url'));
    await pool.query('INSERT INTO run_starts (nonce, workflow_id, run_id, issued_at) VALUES ($1, $2, $3, now())', [start.nonce, start.workflowId, start.runId]);
    await expect(consumeStartNonce(pool, start)).resolves.toBeUndefined();
  });

  it('a start request dated more than 7 days ago is refused with START_EXPIRED; one just inside is used', async () => {
    expect(await consume(startOf(newStartNonce(Date.now() - START_VALIDITY_DAYS * DAY - 60_000)))).toBe('START_EXPIRED');
    expect(await consume(startOf(newStartNonce(Date.now() - START_VALIDITY_DAYS * DAY + 60_000)))).toBeUndefined();
  });

  it('a start request dated ahead of the database clock is used within 10 minutes and refused beyond', async () => {
    expect(await consume(startOf(newStartNonce(Date.now() + 5 * 60_000)))).toBeUndefined();
    expect(await consume(startOf(newStartNonce(Date.now() + 3_600_000)))).toBe('START_EXPIRED');
  });

  it('a refused start request is still recorded: a copy of it is refused as replayed, even once its date comes', async () => {
    const ahead = startOf(newStartNonce(Date.now() + 3_600_000));
    expect(await consume(ahead)).toBe('START_EXPIRED');
    expect(await consume({ ...ahead, workflowId: unique('rotate-copy') })).toBe('START_REPLAYED');
  });

  it('a retry of the run that used a nonce goes on even after the nonce grew too old to start a run', async () => {
    const start = startOf(newStartNonce(Date.now() - START_VALIDITY_DAYS * DAY - 60_000));
    await pool.query('INSERT INTO run_starts (nonce, workflow_id, run_id, issued_at) VALUES ($1, $2, $3, now())', [start.nonce, start.workflowId, start.runId]);
    await expect(consumeStartNonce(pool, start)).resolves.toBeUndefined();
  });

  it('nonces are purged 8 days after their date, when a copy is refused by its date anyway', async () => {
    const old = startOf(newStartNonce(Date.now() - (START_VALIDITY_DAYS + 1) * DAY - 60_000));
    const recent = startOf(newStartNonce(Date.now() - (START_VALIDITY_DAYS + 1) * DAY + 3_600_000));
    for (const s of [old, recent]) expect(await consume(s)).toBe('START_EXPIRED');

    expect(await purgeRunStarts(pool)).toBeGreaterThanOrEqual(1);

    const left = await pool.query<{ nonce: string }>('SELECT nonce FROM run_starts WHERE nonce = ANY($1)', [[old.nonce, recent.nonce]]);
    expect(left.rows.map((r) => r.nonce)).toEqual([recent.nonce]);
    expect(await consume({ ...old, workflowId: unique('rotate-copy') })).toBe('START_EXPIRED');
  });
});
