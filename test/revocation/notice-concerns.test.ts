import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { createRevocationActivities, type RevocationActivityDeps } from '../../activities/revocation.js';
import { SubscriberAddressPolicy } from '../../agents/revocation-responder/subscriber-address.js';
import { addSubscriber, type RevocationEvent, type RevocationNoticeSigner } from '../../agents/revocation-responder/webhooks.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { noticeSink, testNoticeSigner, type NoticeSink } from './notice-sink.js';
import { POLICY_VERSION } from './support.js';

const admin = { appendAudit, actor: { role: 'Human' as const, cliUser: 'alice' }, policyVersion: POLICY_VERSION };
const ISSUER_A = 'https://a.issuer.test';
const ISSUER_B = 'https://b.issuer.test';

let sink: NoticeSink;
let signer: RevocationNoticeSigner;

beforeAll(async () => {
  signer = await testNoticeSigner();
  sink = await noticeSink();
});
afterAll(() => sink.close());
/** What the subscribers were sent, with the path (the subscriber) each went to. */
const received = () => sink.bodies.map((b, i) => ({ path: sink.paths[i], notice: decodeJwt(b) }));

/**
 * A jti or sub notice concerns every issuer with live tokens of its target, and every issuer the
 * run's earlier notices concerned: a later event reaches the same issuers' subscribers once the
 * tokens have expired (here, no token of the target is live at all).
 */
describe('the issuers a token revocation notice concerns', () => {
  let db: PolicyDb;
  beforeEach(async () => {
    db = await policyDatabase();
    await addSubscriber(db.app, { id: 'everyone', url: `${sink.base}/everyone` }, admin);
    await addSubscriber(db.app, { id: 'tenant-b', url: `${sink.base}/tenant-b`, issuers: [ISSUER_B] }, admin);
    sink.bodies.length = 0;
    sink.paths.length = 0;
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
    expect(received()).toEqual([{ path: '/tenant-b', notice: expect.objectContaining({ event: 'revocation.confirmed', value: 'tok-1', aud: 'tenant-b' }) }]);
  });

  it("does not reach it for the concerns of another run's notices", async () => {
    await containedConcerning('revoke-jti-8', [ISSUER_A, ISSUER_B]);

    const r = await deliver('revoke-jti-9', 'revocation.confirmed', 'tenant-b');

    expect(r.outcome).toEqual({ status: 'skipped', why: 'other-issuer' });
    expect(received()).toEqual([]);
  });
});
