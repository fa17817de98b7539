import { afterAll, describe, expect, it } from 'vitest';
import { consumeStartNonce, newStartNonce } from '../../agents/shared/run-starts.js';
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

  it('a start request without a nonce, or with a malformed one, is refused with START_NONCE_MISSING', async () => {
    for (const nonce of [undefined, '', 'short', "x'; DROP TABLE run_starts; --".padEnd(30, 'x')]) {
      expect(await codeOf(() => consumeStartNonce(pool, { nonce, workflowId: unique('policy'), runId: 'run-1' }))).toBe('START_NONCE_MISSING');
    }
  });
});
