import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { createRevocationActivities, type RevocationActivityDeps } from '../../activities/revocation.js';
import { SubscriberAddressPolicy } from '../../agents/revocation-responder/subscriber-address.js';
import { addSubscriber, revocationNoticeSignerFromJwk, type RevocationEvent, type RevocationNoticeSigner } from '../../agents/revocation-responder/webhooks.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { POLICY_VERSION } from './support.js';

const admin = { appendAudit, actor: { role: 'Human' as const, cliUser: 'alice' }, policyVersion: POLICY_VERSION };
const ISSUER_A = 'https://a.issuer.test';
const ISSUER_B = 'https://b.issuer.test';

/** Subscribers on loopback: every notice is answered 204 and kept, with the path it was sent to. */
let server: Server;
let base: string;
const received: { path: string; notice: Record<string, unknown> }[] = [];
let signer: RevocationNoticeSigner;

beforeAll(async () => {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  signer = await revocationNoticeSignerFromJwk(await exportJWK(privateKey), 'test');
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', notice: decodeJwt(body) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/**
 * A jti or sub notice concerns every issuer with live tokens of its target, and every issuer the
 * run's earlier notices concerned: a later event reaches the same issuers' subscribers once the
 * tokens have expired (here, no token of the target is live at all).
 */
describe('the issuers a token revocation notice concerns', () => {
  let db: PolicyDb;
  beforeEach(async () => {
    db = await policyDatabase();
    await addSubscriber(db.app, { id: 'everyone', url: `${base}/everyone` }, admin);
    await addSubscriber(db.app, { id: 'tenant-b', url: `${base}/tenant-b`, issuers: [ISSUER_B] }, admin);
    received.length = 0;
  });
  afterEach(() => db.drop());

  const deliver = (run: string, event: RevocationEvent, subscriberId: string) => {
    const activities = createRevocationActivities({ pool: db.app, noticeSigner: async () => signer, subscriberAddresses: new SubscriberAddressPolicy(['127.0.0.0/8']) } as unknown as RevocationActivityDeps);
    return activities.deliverNotice({ subscriberId, event, kind: 'jti', value: 'tok-1', issuer: ISSUER_A, noticeId: `${run}:${event}`, revokedAt: new Date().toISOString() });
  };
  /** The run's containment was owed to `everyone` when tokens of the target were live under issuer B too. */
  const containedConcerning = (run: string, issuers: string[]) =>
    db.app.query(
      `INSERT INTO revocation_notices (notice_jti, subscriber_id, event, kind, value, issuer, revoked_at, seq, concerns) VALUES ($1, 'everyone', 'revocation.contained', 'jti', 'tok-1', $2, now(), 1, $3)`,
      [`${run}:revocation.contained`, ISSUER_A, issuers],
    );

  it("reaches a subscriber of an issuer the run's containment concerned, once that issuer's tokens have expired", async () => {
    await containedConcerning('revoke-jti-9', [ISSUER_A, ISSUER_B]);

    const r = await deliver('revoke-jti-9', 'revocation.confirmed', 'tenant-b');

    expect(r.outcome).toEqual({ status: 'delivered', httpStatus: 204 });
    expect(received).toEqual([{ path: '/tenant-b', notice: expect.objectContaining({ event: 'revocation.confirmed', value: 'tok-1', aud: 'tenant-b' }) }]);
  });

  it("does not reach it for the concerns of another run's notices", async () => {
    await containedConcerning('revoke-jti-8', [ISSUER_A, ISSUER_B]);

    const r = await deliver('revoke-jti-9', 'revocation.confirmed', 'tenant-b');

    expect(r.outcome).toEqual({ status: 'skipped', why: 'other-issuer' });
    expect(received).toEqual([]);
  });
});
