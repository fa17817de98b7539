import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { ApplicationFailure } from '@temporalio/activity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asActivity } from '../../activities/context.js';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import {
  addSubscriber,
  buildRevocationNotice,
  deliveriesOf,
  deliverToSubscriber,
  getSubscriber,
  listSubscribers,
  revocationNoticeSignerFromJwk,
  setSubscriberDisabled,
  setSubscriberIssuers,
  signRevocationNotice,
  SubscriberAddressPolicy,
  SubscriberAddressRefusedError,
  verifyRevocationNotice,
  WebhookDeliveryError,
  type RevocationNotice,
  type RevocationNoticeSigner,
} from '../../agents/revocation-responder/webhooks.js';
import { superuserPool, testPool, unique } from '../support/db.js';
import { auditCount, base } from './support.js';

const pool = testPool();
const su = superuserPool();
const ctx = { appendAudit, actor: { role: 'Human' as const, cliUser: 'alice' }, policyVersion: base.policyVersion };

interface Received {
  method: string;
  contentType: string | undefined;
  body: string;
}

/** A subscriber on loopback: answers `status()` and verifies what it receives with keyturn's public key, as a real one would. */
let server: Server;
let url: string;
let status = 200;
const received: Received[] = [];
let connections = 0;
let signer: RevocationNoticeSigner;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

beforeAll(async () => {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  signer = await revocationNoticeSignerFromJwk(await exportJWK(privateKey), 'test');
  server = createServer((req, res) => {
    void readBody(req).then((body) => {
      received.push({ method: req.method ?? '', contentType: req.headers['content-type'], body });
      res.statusCode = status;
      res.end(status < 300 ? 'ok' : 'try later');
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/revocations`;
});

/** Subscribers this file registers; switched off at the end so other files' revocations do not call a closed server. */
const created: string[] = [];
const register = async (input: { id: string; url: string; issuers?: string[] }) => {
  const sub = await addSubscriber(pool, input, ctx);
  created.push(sub.id);
  return sub;
};

afterAll(async () => {
  for (const id of created) await setSubscriberDisabled(pool, id, true, ctx).catch(() => undefined);
  await new Promise<void>((r) => server.close(() => r()));
  await pool.end();
  await su.end();
});

async function signedNotice(value = unique('jti')) {
  const notice = buildRevocationNotice({ seq: 1, event: 'revocation.confirmed', kind: 'jti', value, issuer: 'https://issuer.test', revokedAt: new Date(), aud: 'svc-test' });
  const jws = await signRevocationNotice(notice, signer);
  return { notice, jws, sign: async (owed: RevocationNotice) => (owed === notice ? jws : signRevocationNotice(owed, signer)) };
}

describe('revocation subscribers', () => {
  it('deliver a signed notice the subscriber verifies, log the delivery, and skip a repeat', async () => {
    status = 202;
    const sub = await register({ id: unique('svc'), url });
    const signed = await signedNotice();
    received.length = 0;

    expect(await deliverToSubscriber(pool, sub.id, signed, { timeoutMs: 5000 })).toEqual({ status: 'delivered', httpStatus: 202 });

    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: 'POST', contentType: 'application/jose' });
    const verified = await verifyRevocationNotice(received[0]!.body, { keys: [signer.publicJwk] });
    expect(verified).toEqual({ notice: signed.notice, kid: signer.kid });
    expect(await deliveriesOf(pool, signed.notice.jti)).toEqual([expect.objectContaining({ subscriberId: sub.id, outcome: 'delivered', httpStatus: 202, event: 'revocation.confirmed' })]);

    expect(await deliverToSubscriber(pool, sub.id, signed)).toEqual({ status: 'already-delivered' });
    expect(received).toHaveLength(1);
  });

  it('throw a retryable WebhookDeliveryError on a non-2xx answer, logging the failed attempt', async () => {
    status = 503;
    const sub = await register({ id: unique('svc'), url });
    const signed = await signedNotice();

    const err = await deliverToSubscriber(pool, sub.id, signed, { timeoutMs: 5000 }).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(err).toBeInstanceOf(WebhookDeliveryError);
    expect(err).toMatchObject({ code: 'WEBHOOK_DELIVERY_FAILED', retryable: true, status: 503, subscriberId: sub.id });
    expect(await deliveriesOf(pool, signed.notice.jti)).toEqual([expect.objectContaining({ outcome: 'failed', httpStatus: 503 })]);

    // The retry succeeds once the subscriber is back.
    status = 200;
    expect(await deliverToSubscriber(pool, sub.id, signed)).toEqual({ status: 'delivered', httpStatus: 200 });
    expect((await deliveriesOf(pool, signed.notice.jti)).map((d) => d.outcome)).toEqual(['failed', 'delivered']);
  });

  it('refuse a delivery to an address outside the allow-list without connecting, logging the failed attempt', async () => {
    status = 200;
    const sub = await register({ id: unique('svc'), url });
    const signed = await signedNotice();
    connections = 0;

    const err = await deliverToSubscriber(pool, sub.id, signed, { addresses: new SubscriberAddressPolicy() }).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(err).toBeInstanceOf(WebhookDeliveryError);
    expect(err).toMatchObject({ code: 'SUBSCRIBER_ADDRESS_REFUSED', retryable: false, subscriberId: sub.id });
    expect(connections).toBe(0);
    expect(await deliveriesOf(pool, signed.notice.jti)).toEqual([
      expect.objectContaining({ outcome: 'failed', httpStatus: null, error: expect.stringMatching(/127\.0\.0\.1 is a loopback address.*KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS/) }),
    ]);
  });

  it('a refused address fails the delivery activity for good, where other failures are retried', async () => {
    const refused = await asActivity(() => Promise.reject(new SubscriberAddressRefusedError('svc', 'refused'))).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApplicationFailure);
    expect(refused).toMatchObject({ type: 'SUBSCRIBER_ADDRESS_REFUSED', nonRetryable: true });
    const failed = new WebhookDeliveryError('svc', 503, 'HTTP 503');
    await expect(asActivity(() => Promise.reject(failed))).rejects.toBe(failed);
  });

  it('refuse to register an IP address outside the allow-list, registering and auditing nothing', async () => {
    for (const bad of ['https://169.254.169.254/latest/meta-data/', 'https://[::ffff:a00:1]/']) {
      const id = unique('svc');
      await expect(addSubscriber(pool, { id, url: bad }, ctx)).rejects.toMatchObject({ code: 'SUBSCRIBER_ADDRESS_REFUSED' });
      expect(await getSubscriber(pool, id)).toBeUndefined();
      expect(await auditCount(pool, 'revocation.subscriber.add', 'subscriber', id)).toBe(0);
    }
  });

  it('a tampered notice fails the subscriber’s verification', async () => {
    const { jws } = await signedNotice('jti-original');
    const [h, p, s] = jws.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    payload.value = 'jti-someone-else';
    const tampered = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    await expect(verifyRevocationNotice(tampered, signer.publicJwk)).rejects.toMatchObject({ code: 'REVOCATION_NOTICE_INVALID' });
  });

  it('skip disabled subscribers, list only enabled ones, and audit registry changes', async () => {
    status = 200;
    const sub = await register({ id: unique('svc'), url });
    expect(await addSubscriber(pool, { id: sub.id, url }, ctx)).toEqual(sub);
    await expect(addSubscriber(pool, { id: sub.id, url: `${url}/other` }, ctx)).rejects.toMatchObject({ code: 'SUBSCRIBER_CONFLICT' });
    await setSubscriberDisabled(pool, sub.id, true, ctx);
    expect((await listSubscribers(pool)).map((s) => s.id)).not.toContain(sub.id);
    expect((await listSubscribers(pool, { includeDisabled: true })).find((s) => s.id === sub.id)).toMatchObject({ disabled: true });
    received.length = 0;
    expect(await deliverToSubscriber(pool, sub.id, await signedNotice())).toEqual({ status: 'skipped', why: 'disabled' });
    expect(received).toHaveLength(0);
    expect(await auditCount(pool, 'revocation.subscriber.add', 'subscriber', sub.id)).toBe(1);
    expect(await auditCount(pool, 'revocation.subscriber.disable', 'subscriber', sub.id)).toBe(1);
    await expect(addSubscriber(pool, { id: unique('svc'), url: 'http://example.test/hook' }, ctx)).rejects.toMatchObject({ code: 'SUBSCRIBER_INVALID' });
  });

  it("tell a subscriber limited to some issuers of their revocations only, owing it nothing of another's", async () => {
    status = 200;
    const sub = await register({ id: unique('svc'), url, issuers: ['https://tenant-a.test'] });
    received.length = 0;
    const other = await signedNotice();
    expect(other.notice.issuer).toBe('https://issuer.test');

    expect(await deliverToSubscriber(pool, sub.id, other)).toEqual({ status: 'skipped', why: 'other-issuer' });
    expect(received).toHaveLength(0);
    expect((await pool.query('SELECT 1 FROM revocation_notices WHERE subscriber_id = $1', [sub.id])).rowCount).toBe(0);

    await setSubscriberIssuers(pool, sub.id, ['https://tenant-a.test', 'https://issuer.test'], ctx);
    expect(await deliverToSubscriber(pool, sub.id, other)).toMatchObject({ status: 'delivered' });
    expect(await auditCount(pool, 'revocation.subscriber.issuers', 'subscriber', sub.id)).toBe(1);
  });

  it('tell a subscriber limited to another issuer of a token revocation that also concerns its issuer', async () => {
    status = 200;
    const sub = await register({ id: unique('svc'), url, issuers: ['https://tenant-b.test'] });
    const signed = await signedNotice();

    expect(await deliverToSubscriber(pool, sub.id, { ...signed, concerns: ['https://issuer.test', 'https://tenant-b.test'] })).toMatchObject({ status: 'delivered' });
  });

  it('refuse an issuer list that is empty or not of urls, registering nothing', async () => {
    for (const issuers of [[], ['not a url']]) {
      await expect(addSubscriber(pool, { id: unique('svc'), url, issuers }, ctx)).rejects.toMatchObject({ code: 'SUBSCRIBER_INVALID' });
    }
  });
});

describe('grants', () => {
  it('keyturn_app may append and read deliveries but never change or delete them; the superuser is stopped by the trigger', async () => {
    const sub = await register({ id: unique('svc'), url });
    const { notice } = await signedNotice();
    await pool.query(`INSERT INTO revocation_deliveries (subscriber_id, notice_jti, event, outcome, error) VALUES ($1, $2, 'revocation.confirmed', 'failed', 'x')`, [sub.id, notice.jti]);
    await expect(pool.query(`UPDATE revocation_deliveries SET outcome = 'failed' WHERE notice_jti = $1`, [notice.jti])).rejects.toMatchObject({ code: '42501' });
    await expect(pool.query(`DELETE FROM revocation_deliveries WHERE notice_jti = $1`, [notice.jti])).rejects.toMatchObject({ code: '42501' });
    await expect(su.query(`UPDATE revocation_deliveries SET error = 'rewritten' WHERE notice_jti = $1`, [notice.jti])).rejects.toThrow(/append-only/);
    await expect(su.query(`DELETE FROM revocation_deliveries WHERE notice_jti = $1`, [notice.jti])).rejects.toThrow(/append-only/);
  });

  it('keyturn_app may switch a subscriber on and off but not repoint or delete it', async () => {
    const sub = await register({ id: unique('svc'), url });
    await expect(pool.query(`UPDATE revocation_subscribers SET url = 'https://attacker.test/' WHERE id = $1`, [sub.id])).rejects.toMatchObject({ code: '42501' });
    await expect(pool.query(`DELETE FROM revocation_subscribers WHERE id = $1`, [sub.id])).rejects.toMatchObject({ code: '42501' });
    await expect(pool.query(`TRUNCATE revocation_subscribers CASCADE`)).rejects.toMatchObject({ code: '42501' });
  });
});
