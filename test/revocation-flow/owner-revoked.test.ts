import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRevocation } from '../../client/revocations.js';
import type { RevocationResult } from '../../workflows/revocation.js';
import { seedActiveKey } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/**
 * A token contained by a revocation run, then revoked by its own client while the run waits for
 * sign-off: the owner's revocation is permanent, so the run's false alarm must leave it standing
 * and still end as a false alarm (not fail on a refused lift).
 */
describe('a contained token its owner revokes before the sign-off', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'owner-revoked' });
    await seedActiveKey(stack);
  });
  afterAll(() => stack?.stop());

  const entryOf = async (jti: string) => (await stack.pool.query<{ id: string; temporary: boolean }>(`SELECT id::text, temporary FROM revocations WHERE kind = 'jti' AND value = $1`, [jti])).rows;
  const asOwner = (endpoint: 'revoke' | 'introspect', token: string) =>
    fetch(`${stack.httpUrl}/oauth2/${endpoint}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${stack.oauthClient.clientId}:${stack.oauthClient.secret}`).toString('base64')}` },
      body: `token=${token}`,
    });

  it('a rejection ends the run as a false alarm, and the owner\'s revocation stands', async () => {
    const token = await stack.token();
    const jti = decodeJwt(token).jti!;
    const run = await startRevocation(stack.client, { kind: 'jti', value: jti, issuer: stack.issuer, reason: 'token pasted in a ticket', requester: 'cli:carol', taskQueue: stack.taskQueue });
    await stack.waitFor(run, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect((await asOwner('revoke', token)).status).toBe(200);
    const [entry] = await entryOf(jti);
    expect(entry).toMatchObject({ temporary: false });

    await stack.decide(run, 'reject', 'cli:alice', 'false alarm');
    expect((await run.result()) as RevocationResult).toMatchObject({ outcome: 'false_alarm', confirmedElsewhere: entry!.id });
    expect(await entryOf(jti)).toEqual([entry]);
    expect(await (await asOwner('introspect', token)).json()).toEqual({ active: false });
  });
});
