import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { parsePolicy } from '../../agents/planner/policy.js';
import { issuerWith, policyDoc } from '../../agents/planner/policy-fixtures.js';
import { systemClock } from '../../agents/shared/clock.js';
import { newStartNonce } from '../../agents/shared/run-starts.js';
import { createRevocationActivities, type RevocationActivityDeps } from '../../activities/revocation.js';
import { SubscriberAddressPolicy } from '../../agents/revocation-responder/subscriber-address.js';
import { addSubscriber, type RevocationEvent, type RevocationNoticeSigner } from '../../agents/revocation-responder/webhooks.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { inActivity } from '../support/activity-context.js';
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

/**
 * A run's containment notice may be owed to nobody (no subscriber registered yet): the issuers it
 * concerned are recorded with the containment all the same, so the run's later notices reach a
 * subscriber of one of them registered since, once the target's tokens there have expired.
 */
describe('the issuers a token revocation notice concerns, when its containment was owed to no subscriber', () => {
  const SUB = 'client-1';
  const policy = parsePolicy(policyDoc(issuerWith({ issuer: ISSUER_A, audiences: ['https://a.api.test'] }), issuerWith({ issuer: ISSUER_B, audiences: ['https://b.api.test'] })));
  let db: PolicyDb;
  beforeEach(async () => {
    db = await policyDatabase();
    sink.bodies.length = 0;
    sink.paths.length = 0;
  });
  afterEach(() => db.drop());

  const activities = () =>
    createRevocationActivities({
      pool: db.app, appendAudit, clock: systemClock, currentPolicy: async () => policy, channelKey: async () => undefined,
      noticeSigner: async () => signer, subscriberAddresses: new SubscriberAddressPolicy(['127.0.0.0/8']),
    } as unknown as RevocationActivityDeps);
  /** Run `run` contains the client's tokens (named for issuer A) while they are live under `liveUnder`, with no subscriber registered; they expire right after. */
  const containedWithNoSubscriber = async (run: string, liveUnder: string[]) => {
    for (const [i, issuer] of liveUnder.entries()) {
      await db.su.query(`INSERT INTO issued_tokens (jti, issuer, sub, client_id, kid, exp, iat, policy_version) VALUES ($1, $2, $3, $3, 'kid-1', now() + interval '10 minutes', now() - interval '10 minutes', 'v')`, [`${run}-tok-${i}`, issuer, SUB]);
    }
    await inActivity(() => activities().planAndContainToken({ kind: 'sub', value: SUB, issuer: ISSUER_A, reason: 'leaked client secret', requester: 'cli:carol', startNonce: newStartNonce() }), { workflowId: run });
    await db.su.query(`UPDATE issued_tokens SET exp = now() - interval '1 second' WHERE sub = $1`, [SUB]);
  };
  const confirmed = (run: string, subscriberId: string) =>
    activities().deliverNotice({ subscriberId, event: 'revocation.confirmed', kind: 'sub', value: SUB, issuer: ISSUER_A, noticeId: `${run}:revocation.confirmed`, revokedAt: new Date().toISOString() });

  it("reaches a subscriber of an issuer the containment concerned, registered after it, once that issuer's tokens have expired", async () => {
    await containedWithNoSubscriber('revoke-sub-1', [ISSUER_A, ISSUER_B]);
    await addSubscriber(db.app, { id: 'tenant-b', url: `${sink.base}/tenant-b`, issuers: [ISSUER_B] }, admin);

    const r = await confirmed('revoke-sub-1', 'tenant-b');

    expect(r.outcome).toEqual({ status: 'delivered', httpStatus: 204 });
    expect(received()).toEqual([{ path: '/tenant-b', notice: expect.objectContaining({ event: 'revocation.confirmed', kind: 'sub', value: SUB, aud: 'tenant-b' }) }]);
  });

  it('does not reach a subscriber of an issuer the containment did not concern', async () => {
    await containedWithNoSubscriber('revoke-sub-1', [ISSUER_A]);
    await addSubscriber(db.app, { id: 'tenant-b', url: `${sink.base}/tenant-b`, issuers: [ISSUER_B] }, admin);

    const r = await confirmed('revoke-sub-1', 'tenant-b');

    expect(r.outcome).toEqual({ status: 'skipped', why: 'other-issuer' });
    expect(received()).toEqual([]);
  });
});
