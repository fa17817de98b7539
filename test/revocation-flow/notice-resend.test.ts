import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { addSubscriber, deliveriesOf, setSubscriberDisabled } from '../../agents/revocation-responder/webhooks.js';
import { eventually } from '../policy/support.js';
import { testPool } from '../support/db.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/**
 * A notice a run could not deliver is resent by the worker's upkeep, which every worker process
 * runs (one at a time per database) when it starts and every minute. The notice is recorded as owed
 * ten minutes ago, as a run that gave up then leaves it, before the worker starts; the resend may
 * come from any test worker sharing the database.
 */
describe('the worker resends an owed revocation notice', () => {
  const pool = testPool();
  const admin = { appendAudit, actor: { role: 'Human' as const, cliUser: 'cli:admin' }, policyVersion: 'test' };
  const jti = `revoke-jti-${randomUUID()}:revocation.confirmed`;
  let subscriber: string;
  let stack: RotationStack;
  let server: Server;
  const received: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    subscriber = (await addSubscriber(pool, { id: `resend-${randomUUID()}`, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks` }, admin)).id;
    await pool.query(
      `INSERT INTO revocation_notices (notice_jti, subscriber_id, event, kind, value, issuer, revoked_at, seq, created_at) VALUES ($1, $2, 'revocation.confirmed', 'jti', 'leaked-token', 'https://issuer.test', now() - interval '10 minutes', 1, now() - interval '10 minutes')`,
      [jti, subscriber],
    );
    stack = await startRotationStack({ name: 'notice-resend' });
  });
  afterAll(async () => {
    await setSubscriberDisabled(pool, subscriber, true, admin).catch(() => undefined);
    await stack?.stop();
    await pool.end();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('delivers it with the same jti, signed for the subscriber, and logs the delivery', async () => {
    // Other files' revocation runs on the shared database tell this subscriber too: look for this notice.
    const ours = () => received.map((b) => decodeJwt(b)).find((n) => n.jti === jti);
    await eventually(() => ours() !== undefined, 90_000);

    expect(ours()).toMatchObject({ jti, aud: subscriber, event: 'revocation.confirmed', kind: 'jti', value: 'leaked-token', seq: 1 });
    // Logged once the worker has the subscriber's answer, which may be just after the subscriber saw the notice.
    await eventually(async () => (await deliveriesOf(pool, jti)).length > 0, 10_000);
    expect((await deliveriesOf(pool, jti)).map((d) => d.outcome)).toEqual(['delivered']);
  }, 120_000);
});
