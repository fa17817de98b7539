import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { consumeStartNonce, newStartNonce, START_VALIDITY_MS } from '../../agents/shared/run-starts.js';
import { codeOf } from '../support/error-code.js';
import { testPool, unique } from '../support/db.js';

const pool = testPool();
afterAll(() => pool.end());

describe('start nonces: each start request is used by one run', () => {
  it('the first run consumes its nonce, and a retry of that run goes on', async () => {
    const start = { nonce: newStartNonce(), workflowId: unique('rotate'), runId: 'run-1' };
    await consumeStartNonce(pool, start);
    await expect(consumeStartNonce(pool, start)).resolves.toBeUndefined();
  });

  it('the same start request under another workflow id, or as a new run of the same id, is refused with START_REPLAYED', async () => {
    const start = { nonce: newStartNonce(), workflowId: unique('revoke'), runId: 'run-1' };
    await consumeStartNonce(pool, start);
    expect(await codeOf(() => consumeStartNonce(pool, { ...start, workflowId: unique('revoke-copy') }))).toBe('START_REPLAYED');
    expect(await codeOf(() => consumeStartNonce(pool, { ...start, runId: 'run-2' }))).toBe('START_REPLAYED');
  });

  it('a start request without a nonce, with an undated or a malformed one, is refused with START_NONCE_MISSING', async () => {
    const undated = randomBytes(16).toString('base64url');
    for (const nonce of [undefined, '', 'short', undated, 't_'.padEnd(30, 'x'), "x'; DROP TABLE run_starts; --".padEnd(30, 'x')]) {
      expect(await codeOf(() => consumeStartNonce(pool, { nonce, workflowId: unique('policy'), runId: 'run-1' }))).toBe('START_NONCE_MISSING');
    }
  });

  it('a start request older than its validity, or dated ahead of the worker\'s clock, is refused with START_EXPIRED', async () => {
    const now = Date.now();
    for (const issuedAt of [now - START_VALIDITY_MS - 60_000, now + 3_600_000]) {
      expect(await codeOf(() => consumeStartNonce(pool, { nonce: newStartNonce(issuedAt), workflowId: unique('rotate'), runId: 'run-1' }))).toBe('START_EXPIRED');
    }
    await expect(consumeStartNonce(pool, { nonce: newStartNonce(now - START_VALIDITY_MS + 60_000), workflowId: unique('rotate'), runId: 'run-1' })).resolves.toBeUndefined();
  });

  it('consumed nonces are forgotten once a copy would be refused by its date, and kept until then', async () => {
    const old = { nonce: newStartNonce(), workflowId: unique('rotate'), runId: 'run-1' };
    const recent = { nonce: newStartNonce(), workflowId: unique('rotate'), runId: 'run-1' };
    await consumeStartNonce(pool, old);
    await consumeStartNonce(pool, recent);
    await pool.query(`UPDATE run_starts SET consumed_at = now() - interval '8 days 1 minute' WHERE nonce = $1`, [old.nonce]);
    await pool.query(`UPDATE run_starts SET consumed_at = now() - interval '7 days 23 hours' WHERE nonce = $1`, [recent.nonce]);

    await consumeStartNonce(pool, { nonce: newStartNonce(), workflowId: unique('rotate'), runId: 'run-1' });

    const left = await pool.query<{ nonce: string }>('SELECT nonce FROM run_starts WHERE nonce = ANY($1)', [[old.nonce, recent.nonce]]);
    expect(left.rows.map((r) => r.nonce)).toEqual([recent.nonce]);
  });
});
