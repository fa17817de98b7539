import { afterAll, describe, expect, it } from 'vitest';
import { boundedRequestId } from '../../activities/context.js';
import { testPool } from '../support/db.js';
import { generate, keyManager, newIssuer, opBase } from '../keys/support.js';

const pool = testPool();
afterAll(() => pool.end());

const longWorkflowId = `rotate-${'very-long-issuer-name-'.repeat(5)}abcdef-0123456789`;
const runId = '01a236c6-6d77-71e1-b09f-04385aa5bcaf';
const kid = 'x'.repeat(43);

describe('request ids', () => {
  it('one KeyManager takes is kept as it is', () => {
    expect(boundedRequestId(`rotate-a:${runId}:activate:${kid}`, `activate:${kid}`)).toBe(`rotate-a:${runId}:activate:${kid}`);
  });

  it('one too long for KeyManager becomes a digest of the whole and its step, stable and distinct per step', () => {
    const full = (step: string) => `${longWorkflowId}:${runId}:${step}`;
    const activate = boundedRequestId(full(`activate:${kid}`), `activate:${kid}`);
    expect(full(`activate:${kid}`).length).toBeGreaterThan(160);
    expect(activate.length).toBeLessThanOrEqual(160);
    expect(activate).toMatch(/^[A-Za-z0-9_-]{43}:activate:x+$/);
    expect(boundedRequestId(full(`activate:${kid}`), `activate:${kid}`)).toBe(activate);
    expect(boundedRequestId(full(`fail:${kid}`), `fail:${kid}`)).not.toBe(activate);
  });

  it('a shortened one is accepted by KeyManager, where the whole one was refused', async () => {
    const km = keyManager(pool);
    const key = await generate(km, newIssuer());
    const full = `${longWorkflowId}:${runId}:activate:${key.kid}`;
    const op = { ...opBase(), issuer: key.issuer, kid: key.kid };
    await expect(km.activate({ ...op, requestId: full })).rejects.toMatchObject({ code: 'REQUEST_ID_INVALID' });
    expect((await km.activate({ ...op, requestId: boundedRequestId(full, `activate:${key.kid}`) })).active.state).toBe('active');
  });
});
