import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { resendOwedNotices } from '../../agents/revocation-responder/notice-outbox.js';
import { SubscriberAddressPolicy } from '../../agents/revocation-responder/subscriber-address.js';
import {
  addSubscriber,
  buildRevocationNotice,
  deliveriesOf,
  deliverToSubscriber,
  recordDelivery,
  revocationNoticeSignerFromJwk,
  setSubscriberDisabled,
  signRevocationNotice,
  verifyRevocationNotice,
  type DeliverOptions,
  type RevocationEvent,
  type RevocationNoticeSigner,
} from '../../agents/revocation-responder/webhooks.js';
import { fixedClock } from '../../agents/shared/clock.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { auditEntries, POLICY_VERSION } from './support.js';

const MINUTE_MS = 60_000;
const admin = { appendAudit, actor: { role: 'Human' as const, cliUser: 'alice' }, policyVersion: POLICY_VERSION };

/** A subscriber on loopback that answers `status` and keeps what it was sent. */
let server: Server;
let url: string;
let status = 503;
const received: string[] = [];
let signer: RevocationNoticeSigner;

beforeAll(async () => {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  signer = await revocationNoticeSignerFromJwk(await exportJWK(privateKey), 'test');
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(body);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/**
 * A run tries each notice for about a minute and a half; the worker resends the ones still owed.
 * Each test has a database of its own: the resender looks at every owed notice.
 */
describe('resendOwedNotices', () => {
  let db: PolicyDb;
  let sub: string;
  beforeEach(async () => {
    db = await policyDatabase();
    sub = (await addSubscriber(db.app, { id: 'billing', url }, admin)).id;
    status = 503;
    received.length = 0;
  });
  afterEach(() => db.drop());

  const later = (minutes: number) => new Date(Date.now() + minutes * MINUTE_MS);
  const resend = (at: number | Date, deliver?: DeliverOptions) =>
    resendOwedNotices(db.app, { signer: async () => signer, clock: fixedClock(typeof at === 'number' ? later(at) : at), policyVersion: POLICY_VERSION, ...(deliver ? { deliver } : {}) });
  const revokedAt = new Date(Date.now() - 5 * MINUTE_MS);
  const notice = (event: RevocationEvent, at = revokedAt) =>
    buildRevocationNotice({ event, kind: 'jti', value: 'tok-1', issuer: 'https://issuer.test', revokedAt: at, aud: sub, jti: `revoke-jti-1:${event}` });
  /** What a run's activity does: deliver once (the subscriber answers `status`). */
  const runDelivers = async (event: RevocationEvent, at?: Date) => {
    const n = notice(event, at);
    return deliverToSubscriber(db.app, sub, { jws: await signRevocationNotice(n, signer), notice: n }).catch(() => 'failed' as const);
  };
  const outcomes = async (event: RevocationEvent) => (await deliveriesOf(db.app, notice(event).jti)).map((d) => d.outcome);

  it('resends a notice the run could not deliver once the subscriber answers, with a new iat and the same jti and revokedAt', async () => {
    expect(await runDelivers('revocation.contained')).toBe('failed');
    status = 200;
    received.length = 0;

    const at = later(3);
    const report = await resend(at);

    expect(report).toEqual({ delivered: 1, failed: 0, superseded: 0, abandoned: 0 });
    const { notice: got } = await verifyRevocationNotice(received[0]!, { keys: [signer.publicJwk] }, { audience: sub, now: () => at });
    expect(got).toMatchObject({ jti: 'revoke-jti-1:revocation.contained', revokedAt: revokedAt.toISOString(), event: 'revocation.contained' });
    expect(got.iat).toBe(Math.floor(at.getTime() / 1000));
    expect(await outcomes('revocation.contained')).toEqual(['failed', 'delivered']);
    expect(await resend(10)).toEqual({ delivered: 0, failed: 0, superseded: 0, abandoned: 0 });
  });

  it('waits two minutes after the last attempt before resending', async () => {
    await runDelivers('revocation.contained');
    received.length = 0;

    expect(await resend(1)).toEqual({ delivered: 0, failed: 0, superseded: 0, abandoned: 0 });
    expect(received).toEqual([]);
  });

  it('doubles the pause after each failed resend, up to an hour', async () => {
    await runDelivers('revocation.contained');
    const failed = { subscriberId: sub, noticeJti: notice('revocation.contained').jti, event: 'revocation.contained', outcome: 'failed' as const };
    for (let i = 0; i < 6; i++) await recordDelivery(db.app, failed); // 7 failures: the run's 6 and one resend
    received.length = 0;
    expect((await resend(3)).failed).toBe(0);
    expect((await resend(5)).failed).toBe(1);

    for (let i = 0; i < 20; i++) await recordDelivery(db.app, failed);
    expect((await resend(59)).failed).toBe(0);
    expect((await resend(61)).failed).toBe(1);
  });

  it("sends one subscriber's notices oldest first and stops its pass at the first failure", async () => {
    await runDelivers('revocation.contained', revokedAt);
    await runDelivers('revocation.lifted', new Date(revokedAt.getTime() + 1000));
    received.length = 0;

    expect(await resend(3)).toEqual({ delivered: 0, failed: 1, superseded: 0, abandoned: 0 });
    expect(received).toHaveLength(1);

    status = 200;
    received.length = 0;
    expect(await resend(10)).toEqual({ delivered: 2, failed: 0, superseded: 0, abandoned: 0 });
    const events = await Promise.all(received.map(async (b) => (await verifyRevocationNotice(b, { keys: [signer.publicJwk] }, { audience: sub, now: () => later(10) })).notice.event));
    expect(events).toEqual(['revocation.contained', 'revocation.lifted']);
  });

  it('marks a notice superseded, without sending it, once a later notice of the same target was delivered', async () => {
    await runDelivers('revocation.contained', revokedAt);
    status = 200;
    await runDelivers('revocation.confirmed', new Date(revokedAt.getTime() + 1000));
    received.length = 0;

    expect(await resend(3)).toEqual({ delivered: 0, failed: 0, superseded: 1, abandoned: 0 });
    expect(received).toEqual([]);
    expect(await outcomes('revocation.contained')).toEqual(['failed', 'superseded']);
  });

  it('abandons a notice still undelivered after 7 days, audited, and sends it no more', async () => {
    await runDelivers('revocation.contained');
    received.length = 0;

    expect(await resend(7 * 24 * 60 + 1)).toEqual({ delivered: 0, failed: 0, superseded: 0, abandoned: 1 });

    expect(received).toEqual([]);
    expect(await outcomes('revocation.contained')).toEqual(['failed', 'abandoned']);
    expect(await auditEntries(db.app, 'revocation.notice_abandoned', 'subscriber', sub)).toEqual([
      expect.objectContaining({ outcome: 'failed', actor: { role: 'RevocationResponder' }, details: expect.objectContaining({ notice: 'revoke-jti-1:revocation.contained', target: { jti: 'tok-1' } }) }),
    ]);
    expect(await resend(7 * 24 * 60 + 30)).toEqual({ delivered: 0, failed: 0, superseded: 0, abandoned: 0 });
  });

  it('keeps the notices of a disabled subscriber until it is enabled again', async () => {
    await runDelivers('revocation.contained');
    await setSubscriberDisabled(db.app, sub, true, admin);
    status = 200;
    received.length = 0;

    expect(await resend(3)).toEqual({ delivered: 0, failed: 0, superseded: 0, abandoned: 0 });
    await setSubscriberDisabled(db.app, sub, false, admin);
    expect(await resend(3)).toEqual({ delivered: 1, failed: 0, superseded: 0, abandoned: 0 });
    expect(received).toHaveLength(1);
  });

  it('logs a resend to a refused address as failed and sends it once the address is allowed', async () => {
    await runDelivers('revocation.contained');
    status = 200;
    received.length = 0;

    expect(await resend(3, { addresses: new SubscriberAddressPolicy([]) })).toEqual({ delivered: 0, failed: 1, superseded: 0, abandoned: 0 });
    expect(received).toEqual([]);
    expect((await deliveriesOf(db.app, notice('revocation.contained').jti)).at(-1)).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/refused: 127\.0\.0\.1 is a loopback address/) });

    expect(await resend(10, { addresses: new SubscriberAddressPolicy(['127.0.0.0/8']) })).toEqual({ delivered: 1, failed: 0, superseded: 0, abandoned: 0 });
  });
});
