import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { ApplicationFailure } from '@temporalio/common';
import { createRevocationActivities, type RevocationActivityDeps } from '../../activities/revocation.js';
import { owedNoticeCounts, resendOwedNotices } from '../../agents/revocation-responder/notice-outbox.js';
import { KeyturnError } from '../../config/errors.js';
import { SubscriberAddressPolicy } from '../../agents/revocation-responder/subscriber-address.js';
import {
  addSubscriber,
  buildRevocationNotice,
  deliveriesOf,
  deliverToSubscriber,
  recordDelivery,
  setSubscriberDisabled,
  setSubscriberIssuers,
  signRevocationNotice,
  verifyRevocationNotice,
  type DeliverOptions,
  type RevocationEvent,
  type RevocationNoticeSigner,
} from '../../agents/revocation-responder/webhooks.js';
import { fixedClock } from '../../agents/shared/clock.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { noticeSink, testNoticeSigner, type NoticeSink } from './notice-sink.js';
import { auditEntries, POLICY_VERSION } from './support.js';

const MINUTE_MS = 60_000;
const admin = { appendAudit, actor: { role: 'Human' as const, cliUser: 'alice' }, policyVersion: POLICY_VERSION };

/** A subscriber on loopback that answers `status` (400 to notices about `refusedValue`) and keeps what it was sent. */
let sink: NoticeSink;
let url: string;
let status = 503;
let refusedValue: string | undefined;
let received: string[];
let signer: RevocationNoticeSigner;

beforeAll(async () => {
  signer = await testNoticeSigner();
  sink = await noticeSink((body) => (refusedValue !== undefined && decodeJwt(body).value === refusedValue ? 400 : status));
  received = sink.bodies;
  url = `${sink.base}/hooks`;
});
afterAll(() => sink.close());

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
    refusedValue = undefined;
    received.length = 0;
  });
  afterEach(() => db.drop());

  const later = (minutes: number) => new Date(Date.now() + minutes * MINUTE_MS);
  const resend = (at: number | Date, deliver?: DeliverOptions) =>
    resendOwedNotices(db.app, { signer: async () => signer, clock: fixedClock(typeof at === 'number' ? later(at) : at), policyVersion: POLICY_VERSION, ...(deliver ? { deliver } : {}) });
  const revokedAt = new Date(Date.now() - 5 * MINUTE_MS);
  /** A run's notices of one target, ordered as their changes committed (seq). */
  const SEQ: Record<RevocationEvent, number> = { 'revocation.contained': 10, 'revocation.lifted': 20, 'revocation.confirmed': 20 };
  type Of = { seq?: number; run?: string; to?: string; value?: string; concerns?: string[] };
  const notice = (event: RevocationEvent, o: Of = {}) =>
    buildRevocationNotice({ seq: o.seq ?? SEQ[event], event, kind: 'jti', value: o.value ?? 'tok-1', issuer: 'https://issuer.test', revokedAt, aud: o.to ?? sub, jti: `${o.run ?? 'revoke-jti-1'}:${event}` });
  /** What a run's activity does: deliver once (the subscriber answers `status`). */
  const runDelivers = async (event: RevocationEvent, o: Of = {}) => {
    const n = notice(event, o);
    return deliverToSubscriber(db.app, o.to ?? sub, { notice: n, sign: (owed) => signRevocationNotice(owed, signer), ...(o.concerns ? { concerns: o.concerns } : {}) }).catch(() => 'failed' as const);
  };
  /** A notice owed since `minutesAgo`, with a failed attempt now unless `attempted` is false. */
  const owedSince = async (minutesAgo: number, o: Of & { attempted?: boolean } = {}) => {
    const n = notice('revocation.contained', o);
    await db.app.query(
      `INSERT INTO revocation_notices (notice_jti, subscriber_id, event, kind, value, issuer, revoked_at, seq, created_at) VALUES ($1, $2, $3, 'jti', $4, $5, $6, $7, now() - make_interval(mins => $8))`,
      [n.jti, sub, n.event, n.value, n.issuer, n.revokedAt, n.seq, minutesAgo],
    );
    if (o.attempted !== false) await recordDelivery(db.app, { subscriberId: sub, noticeJti: n.jti, event: n.event, outcome: 'failed' });
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

  it('pauses half the time a notice has been owed after its last attempt', async () => {
    await owedSince(40);
    expect((await resend(19)).failed).toBe(0);
    expect((await resend(21)).failed).toBe(1);
  });

  it('pauses at most an hour', async () => {
    await owedSince(300);
    expect((await resend(59)).failed).toBe(0);
    expect((await resend(61)).failed).toBe(1);
  });

  it("sends one subscriber's notices oldest first and stops its pass at the first failure", async () => {
    await runDelivers('revocation.lifted', { run: 'revoke-jti-0', seq: 5 });
    await runDelivers('revocation.contained');
    await runDelivers('revocation.lifted');
    received.length = 0;

    expect(await resend(3)).toEqual({ delivered: 0, failed: 1, superseded: 0, abandoned: 0 });
    expect(received).toHaveLength(1);

    status = 200;
    received.length = 0;
    expect(await resend(10)).toEqual({ delivered: 3, failed: 0, superseded: 0, abandoned: 0 });
    const sent = await Promise.all(received.map(async (b) => (await verifyRevocationNotice(b, { keys: [signer.publicJwk] }, { audience: sub, now: () => later(10) })).notice));
    expect(sent.map((n) => [n.event, n.seq])).toEqual([['revocation.lifted', 5], ['revocation.contained', 10], ['revocation.lifted', 20]]);
  });

  it("sends to other subscribers while one is down with a backlog", async () => {
    const down = (await addSubscriber(db.app, { id: 'audit', url: 'http://127.0.0.1:9/hooks' }, admin)).id;
    for (let i = 1; i <= 5; i++) await runDelivers('revocation.contained', { run: `revoke-jti-${i}`, seq: i, to: down });
    await runDelivers('revocation.confirmed');
    status = 200;

    expect(await resend(3)).toEqual({ delivered: 1, failed: 1, superseded: 0, abandoned: 0 });
    expect((await deliveriesOf(db.app, 'revoke-jti-1:revocation.contained')).map((d) => d.outcome)).toEqual(['failed', 'failed']);
    expect((await deliveriesOf(db.app, 'revoke-jti-2:revocation.contained')).map((d) => d.outcome)).toEqual(['failed']);
  });

  it('marks a notice superseded, without sending it, once a later change of the same target was delivered', async () => {
    await runDelivers('revocation.contained');
    status = 200;
    await runDelivers('revocation.confirmed');
    received.length = 0;

    expect(await resend(3)).toEqual({ delivered: 0, failed: 0, superseded: 1, abandoned: 0 });
    expect(received).toEqual([]);
    expect(await outcomes('revocation.contained')).toEqual(['failed', 'superseded']);
  });

  it('still sends a confirmation after a later containment of the same target was delivered: a confirmed revocation is final', async () => {
    await runDelivers('revocation.confirmed');
    status = 200;
    await runDelivers('revocation.contained', { run: 'revoke-jti-2', seq: 30 });

    expect(await resend(3)).toEqual({ delivered: 1, failed: 0, superseded: 0, abandoned: 0 });
  });

  it('ends a notice once when two workers abandon it at the same time', async () => {
    await runDelivers('revocation.contained');
    const reports = await Promise.all([resend(7 * 24 * 60 + 1), resend(7 * 24 * 60 + 1)]);
    expect(reports.map((r) => r.abandoned).sort()).toEqual([0, 1]);
    expect(await auditEntries(db.app, 'revocation.notice_abandoned', 'subscriber', sub)).toHaveLength(1);
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

  it("fails a run's delivery at once when the notice key file cannot be read, and resends the notice once the key is back", async () => {
    status = 200;
    const keyGone = async (): Promise<RevocationNoticeSigner> => {
      throw new KeyturnError('SECRET_FILE_MISSING', 'secret file /run/secrets/notice.jwk cannot be read');
    };
    const activities = createRevocationActivities({ pool: db.app, noticeSigner: keyGone, subscriberAddresses: new SubscriberAddressPolicy(['127.0.0.0/8']) } as unknown as RevocationActivityDeps);

    const failure = await activities
      .deliverNotice({ subscriberId: sub, event: 'revocation.confirmed', kind: 'jti', value: 'tok-1', issuer: 'https://issuer.test', noticeId: 'revoke-jti-1:revocation.confirmed', revokedAt: revokedAt.toISOString() })
      .catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'SECRET_FILE_MISSING', nonRetryable: true });
    expect(await owedNoticeCounts(db.app)).toEqual(new Map([[sub, 1]]));
    expect(await deliveriesOf(db.app, 'revoke-jti-1:revocation.confirmed')).toEqual([expect.objectContaining({ outcome: 'failed', error: 'not signed: SECRET_FILE_MISSING' })]);
    expect(await resend(3)).toEqual({ delivered: 1, failed: 0, superseded: 0, abandoned: 0 });
  });

  it('goes on past a notice the subscriber refuses (4xx) to its other notices', async () => {
    await runDelivers('revocation.contained', { value: 'tok-bad', run: 'revoke-bad', seq: 1 });
    await runDelivers('revocation.contained');
    status = 200;
    refusedValue = 'tok-bad';
    received.length = 0;

    expect(await resend(3)).toEqual({ delivered: 1, failed: 1, superseded: 0, abandoned: 0 });
    expect(received.map((b) => decodeJwt(b).value)).toEqual(['tok-bad', 'tok-1']);
  });

  it('does not pause a subscriber for a notice it refused (4xx), only that notice', async () => {
    status = 200;
    refusedValue = 'tok-bad';
    await runDelivers('revocation.contained', { value: 'tok-bad', run: 'revoke-bad', seq: 1 });
    await owedSince(40, { value: 'tok-2', run: 'revoke-jti-2', attempted: false });
    received.length = 0;

    expect(await resend(1)).toEqual({ delivered: 1, failed: 0, superseded: 0, abandoned: 0 });
    expect(received.map((b) => decodeJwt(b).value)).toEqual(['tok-2']);
  });

  it('withdraws the notices owed to a subscriber once it is no longer told of their issuer, audited', async () => {
    await runDelivers('revocation.contained');

    await setSubscriberIssuers(db.app, sub, ['https://other.test'], admin);

    expect(await outcomes('revocation.contained')).toEqual(['failed', 'withdrawn']);
    expect(await owedNoticeCounts(db.app)).toEqual(new Map());
    expect(await auditEntries(db.app, 'revocation.subscriber.issuers', 'subscriber', sub)).toEqual([expect.objectContaining({ details: { issuers: ['https://other.test'], before: null, withdrawn: 1 } })]);
  });

  it('resends a token notice to a subscriber limited to another issuer it concerns', async () => {
    await setSubscriberIssuers(db.app, sub, ['https://tenant-b.test'], admin);
    const n = notice('revocation.contained');
    await deliverToSubscriber(db.app, sub, { notice: n, sign: (owed) => signRevocationNotice(owed, signer), concerns: ['https://tenant-b.test'] }).catch(() => undefined);
    status = 200;

    expect(await resend(3)).toEqual({ delivered: 1, failed: 0, superseded: 0, abandoned: 0 });
  });

  it('tries none of a down subscriber\'s notices before its own pause since its last failure has passed', async () => {
    await runDelivers('revocation.contained');
    await owedSince(40, { value: 'tok-2', run: 'revoke-jti-2', attempted: false });
    received.length = 0;

    expect(await resend(1)).toEqual({ delivered: 0, failed: 0, superseded: 0, abandoned: 0 });
    expect(await resend(21)).toEqual({ delivered: 0, failed: 1, superseded: 0, abandoned: 0 });
    expect(received).toHaveLength(1);
  });

  it('signs every attempt of a notice with the seq it was first owed with', async () => {
    await runDelivers('revocation.contained', { seq: 10 });
    status = 200;
    received.length = 0;
    await runDelivers('revocation.contained', { seq: 99 });

    expect(decodeJwt(received[0]!).seq).toBe(10);
  });

  it("tells a limited subscriber of a target's later notices once it was told of an earlier one for its issuer, and resends them", async () => {
    await setSubscriberIssuers(db.app, sub, ['https://tenant-b.test'], admin);
    status = 200;
    await runDelivers('revocation.contained', { concerns: ['https://issuer.test', 'https://tenant-b.test'] });
    status = 503;
    expect(await runDelivers('revocation.lifted')).toBe('failed');
    status = 200;

    expect(await resend(3)).toEqual({ delivered: 1, failed: 0, superseded: 0, abandoned: 0 });
  });

  it("tells a subscriber narrowed away from an issuer nothing more of that issuer's targets", async () => {
    status = 200;
    await runDelivers('revocation.contained');
    await setSubscriberIssuers(db.app, sub, ['https://tenant-b.test'], admin);

    expect(await runDelivers('revocation.confirmed')).toEqual({ status: 'skipped', why: 'other-issuer' });
  });
});
