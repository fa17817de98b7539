import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTokenRejected } from '../../agents/validator/index.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { kidOf, result, seedActiveKey, sleep, verifyUntilExpiry } from './support.js';

describe('a rotation on the real Temporal server, approved through the CLI channel', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'happy' });
  });
  afterAll(() => stack?.stop());

  it('tokens issued before, during the overlap and after the rotation all verify until their own expiry', async () => {
    const oldKid = await seedActiveKey(stack);
    const rp = stack.relyingParty();
    const before = await stack.token();
    const watchBefore = verifyUntilExpiry(rp, before);

    const handle = await stack.rotate('quarterly rotation');
    await stack.decide(handle, 'approve', 'cli:alice');
    await stack.waitFor(handle, (s) => s.phase === 'overlap', 'the overlap');
    const during = await stack.token();
    const watchDuring = verifyUntilExpiry(rp, during);

    const r = await result(handle);
    const after = await stack.token();
    const watchAfter = verifyUntilExpiry(rp, after);

    expect(r.outcome).toBe('completed');
    expect(kidOf(before)).toBe(oldKid);
    expect(kidOf(during)).toBe(r.newKid);
    expect(kidOf(after)).toBe(r.newKid);
    expect(await watchBefore).toEqual([]);
    expect(await watchDuring).toEqual([]);
    expect(await watchAfter).toEqual([]);
  });

  it('after retirement the JWKS holds only the new key and a token past its expiry is refused', async () => {
    const handle = await stack.rotate('second rotation');
    await stack.decide(handle, 'approve', 'cli:bob');
    await stack.waitFor(handle, (s) => s.phase === 'overlap', 'the overlap');
    const token = await stack.token();
    const r = await result(handle);
    expect(await stack.jwksKids()).toEqual([r.newKid]);
    await sleep(Math.max(0, (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000 + 1500 - Date.now()));
    const rejected = await stack.relyingParty().verify(token).catch((e: unknown) => e);
    expect(isTokenRejected(rejected) && rejected.code).toBe('EXPIRED');
  });

  it('the result records the outcome, the approval and the audit range holding one entry per handoff', async () => {
    const handle = await stack.rotate('third rotation');
    await stack.decide(handle, 'approve', 'cli:carol');
    const r = await result(handle);
    expect(r).toMatchObject({ outcome: 'completed', approvals: [{ approver: 'cli:carol', decision: 'approve', channel: 'cli' }] });
    expect(r.previousKid).toBeDefined();
    const [first, last] = r.auditSeqRange!;
    const { rows } = await stack.pool.query<{ action: string }>(`SELECT action FROM audit_log WHERE seq BETWEEN $1 AND $2 AND actor ->> 'workflowId' = $3 ORDER BY seq`, [first, last, handle.workflowId]);
    expect(rows.map((x) => x.action)).toEqual(['rotation.planned', 'approval.approve', 'key.generate', 'token.canary', 'key.activate', 'token.canary', 'rotation.canary', 'key.retire', 'rotation.completed']);
  });
});
