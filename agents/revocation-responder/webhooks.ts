import { isKeyturnError, KeyturnError } from '../../config/errors.js';
import type { Queryable } from '../shared/db.js';
import { REVOCATION_NOTICE_CONTENT_TYPE, type RevocationNotice } from './notice.js';
import { postPinned, systemResolve, unlessAborted, type Resolve, type ResolvedAddress } from './pinned-post.js';
import { ALLOWED_NETWORKS_VARIABLE, ipLiteral, subscriberAddressPolicy, type SubscriberAddressPolicy } from './subscriber-address.js';
import { endOwedNotice, WITHDRAWN_BECAUSE } from './owed-notices.js';
import { ALLOW_INTERNAL, getSubscriber, parseSubscriberUrl, tellsOf, type Subscriber } from './subscribers.js';

export {
  buildRevocationNotice,
  loadRevocationNoticeKey,
  revocationNoticeSignerFromJwk,
  RevocationNoticeSigner,
  signRevocationNotice,
  verifyRevocationNotice,
  REVOCATION_NOTICE_CONTENT_TYPE,
  REVOCATION_NOTICE_TYP,
  type NoticeKeys,
  type RevocationEvent,
  type RevocationNotice,
  type VerifiedNotice,
} from './notice.js';
export { addSubscriber, checkSubscriberUrl, getSubscriber, listSubscribers, setSubscriberDisabled, setSubscriberIssuers, tellsOf, type Subscriber } from './subscribers.js';
export { LOOPBACK_NETWORKS, SubscriberAddressPolicy, subscriberAddressPolicy } from './subscriber-address.js';
export type { Resolve, ResolvedAddress } from './pinned-post.js';

// ---------------------------------------------------------------------------------------------
// Delivery

/**
 * A delivery that did not get a 2xx: a network error, a timeout, a redirect or a non-2xx status.
 * Retryable (the activity lets Temporal retry with backoff); `status` is set when the subscriber
 * answered. The message names the subscriber id and the url's origin only: paths and query strings
 * of webhook urls often embed secrets.
 */
export class WebhookDeliveryError extends KeyturnError {
  readonly retryable: boolean = true;

  constructor(
    readonly subscriberId: string,
    readonly status: number | undefined,
    message: string,
    code = 'WEBHOOK_DELIVERY_FAILED',
    hint = 'The delivery is retried; disable the subscriber if it is gone for good.',
  ) {
    super(code, message, hint, { subscriberId, ...(status !== undefined ? { status } : {}) });
  }
}

/**
 * A delivery not attempted: the subscriber's host is, or resolves to, an address the policy refuses
 * (SUBSCRIBER_ADDRESS_REFUSED); logged as a failed attempt like any other. Not retryable: what fixes
 * it (the allow-list, the subscriber's url or its DNS) takes a person longer than the delivery's
 * minute and a half of retries. DNS can change within that time, but a name that moves from an
 * internal address to a public one within seconds looks like rebinding, not like a fix worth
 * waiting for. The notice stays owed: the worker's resends (notice-outbox.ts) send it once fixed.
 */
export class SubscriberAddressRefusedError extends WebhookDeliveryError {
  override readonly retryable = false;

  constructor(subscriberId: string, message: string) {
    super(subscriberId, undefined, message, 'SUBSCRIBER_ADDRESS_REFUSED', ALLOW_INTERNAL);
  }
}

export function isWebhookDeliveryError(e: unknown): e is WebhookDeliveryError {
  return e instanceof WebhookDeliveryError;
}

export interface DeliverOptions {
  /** Where deliveries may connect. Default: the configuration's (see subscriberAddressPolicy). */
  addresses?: SubscriberAddressPolicy;
  /** How a host name is resolved. Default: the system resolver. */
  resolve?: Resolve;
  /** Default {@link DEFAULT_DELIVERY_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** Half the delivery activity's 10 s: an answer in time is never followed by a timed-out attempt that posts again. */
export const DEFAULT_DELIVERY_TIMEOUT_MS = 5_000;

/**
 * POSTs a signed notice (compact JWS, content-type application/jose) to the subscriber. The host is
 * resolved once and every address it has must be allowed; the connection then goes to those
 * addresses only. Redirects are not followed. Resolves with the 2xx status; throws
 * SubscriberAddressRefusedError before connecting to a refused address, WebhookDeliveryError otherwise.
 */
export async function deliver(subscriber: Pick<Subscriber, 'id' | 'url'>, signedBody: string, opts: DeliverOptions = {}): Promise<{ status: number }> {
  const url = parseSubscriberUrl(subscriber.url);
  const addresses = opts.addresses ?? subscriberAddressPolicy();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS;
  const where = `subscriber ${subscriber.id} (${url.origin})`;
  const signal = AbortSignal.timeout(timeoutMs);
  const failed = (e: unknown) => {
    const err = e as { name?: unknown; code?: unknown; cause?: { code?: unknown } };
    const why = err.name === 'TimeoutError' || err.name === 'AbortError' ? `no answer within ${timeoutMs} ms` : `network error (${String(err.code ?? err.cause?.code ?? err.name ?? 'unknown')})`;
    return new WebhookDeliveryError(subscriber.id, undefined, `delivery to ${where} failed: ${why}`);
  };
  let to: ResolvedAddress[];
  try {
    const literal = ipLiteral(url.hostname);
    to = literal ? [literal] : await unlessAborted((opts.resolve ?? systemResolve)(url.hostname), signal);
  } catch (e) {
    throw failed(e);
  }
  if (to.length === 0) throw new WebhookDeliveryError(subscriber.id, undefined, `delivery to ${where} failed: the host has no address`);
  for (const { address } of to) {
    const refused = addresses.refusal(address);
    if (refused) throw new SubscriberAddressRefusedError(subscriber.id, `delivery to ${where} refused: ${refused}; add its network to ${ALLOWED_NETWORKS_VARIABLE} if this subscriber is meant to be internal`);
  }
  let status: number;
  try {
    status = await postPinned(url, to, signedBody, { 'content-type': REVOCATION_NOTICE_CONTENT_TYPE, accept: 'application/json, text/plain, */*' }, signal);
  } catch (e) {
    throw failed(e);
  }
  if (status < 200 || status > 299) {
    throw new WebhookDeliveryError(subscriber.id, status, `delivery to ${where} failed: HTTP ${status}`);
  }
  return { status };
}

/** `superseded` and `abandoned` end a notice the worker stopped resending (notice-outbox.ts). */
export type DeliveryOutcomeName = 'delivered' | 'failed' | 'superseded' | 'abandoned' | 'withdrawn';

export interface DeliveryRecord {
  subscriberId: string;
  noticeJti: string;
  event: string;
  outcome: DeliveryOutcomeName;
  httpStatus?: number;
  /** A short reason; never a body or a secret. */
  error?: string;
}

/** Appends one attempt to the deliveries log (append-only). */
export async function recordDelivery(db: Queryable, r: DeliveryRecord): Promise<void> {
  await db.query(`INSERT INTO revocation_deliveries (subscriber_id, notice_jti, event, outcome, http_status, error) VALUES ($1, $2, $3, $4, $5, $6)`, [
    r.subscriberId,
    r.noticeJti,
    r.event,
    r.outcome,
    r.httpStatus !== undefined && r.httpStatus >= 100 && r.httpStatus <= 599 ? r.httpStatus : null,
    r.error === undefined ? null : r.error.slice(0, 1024),
  ]);
}

export interface DeliveryAttempt {
  id: string;
  subscriberId: string;
  noticeJti: string;
  event: string;
  outcome: DeliveryOutcomeName;
  httpStatus: number | null;
  error: string | null;
  attemptedAt: string;
}

/** Every attempt for a notice, oldest first. */
export async function deliveriesOf(db: Queryable, noticeJti: string): Promise<DeliveryAttempt[]> {
  const res = await db.query<{ id: string; subscriber_id: string; notice_jti: string; event: string; outcome: DeliveryOutcomeName; http_status: number | null; error: string | null; attempted_at: Date }>(
    `SELECT id::text AS id, subscriber_id, notice_jti, event, outcome, http_status, error, attempted_at FROM revocation_deliveries WHERE notice_jti = $1 ORDER BY id`,
    [noticeJti],
  );
  return res.rows.map((r) => ({ id: r.id, subscriberId: r.subscriber_id, noticeJti: r.notice_jti, event: r.event, outcome: r.outcome, httpStatus: r.http_status, error: r.error, attemptedAt: r.attempted_at.toISOString() }));
}

export type DeliveryOutcome = { status: 'delivered'; httpStatus: number } | { status: 'already-delivered' } | { status: 'skipped'; why: 'disabled' | 'unknown' | 'other-issuer' };

/** Records that `notice` is owed to the subscriber (once per notice and subscriber): the worker resends it until it is delivered. */
async function owe(db: Queryable, subscriberId: string, n: RevocationNotice, concerns: readonly string[] | undefined): Promise<RevocationNotice> {
  await db.query(
    `INSERT INTO revocation_notices (notice_jti, subscriber_id, event, kind, value, before, issuer, revoked_at, seq, concerns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
    [n.jti, subscriberId, n.event, n.kind, n.value, n.before ?? null, n.issuer, n.revokedAt, n.seq, concerns && concerns.length > 1 ? concerns : null],
  );
  // Every attempt and resend of a notice carries the seq it was first owed with.
  const { rows } = await db.query<{ seq: string }>(`SELECT seq::text AS seq FROM revocation_notices WHERE notice_jti = $1 AND subscriber_id = $2`, [n.jti, subscriberId]);
  const seq = Number(rows[0]!.seq);
  return seq === n.seq ? n : { ...n, seq };
}

/**
 * The issuers that earlier notices of the same target, owed to the subscriber and not withdrawn,
 * concerned, among those it is told of now: it then gets the later notices too (a lift of what it
 * was told is contained), even once the target's tokens of its issuers have expired.
 */
async function toldOfBefore(db: Queryable, subscriberId: string, told: readonly string[], n: RevocationNotice): Promise<string[]> {
  const { rows } = await db.query<{ issuer: string }>(
    `SELECT DISTINCT c.issuer FROM revocation_notices o, unnest(coalesce(o.concerns, ARRAY[o.issuer])) AS c(issuer)
     WHERE o.subscriber_id = $1 AND o.kind = $2 AND o.value = $3 AND o.issuer = $4 AND o.before IS NOT DISTINCT FROM $5::timestamptz
       AND c.issuer = ANY ($6::text[])
       AND NOT EXISTS (SELECT 1 FROM revocation_deliveries w WHERE w.notice_jti = o.notice_jti AND w.subscriber_id = o.subscriber_id AND w.outcome = 'withdrawn')`,
    [subscriberId, n.kind, n.value, n.issuer, n.before ?? null, told],
  );
  return rows.map((r) => r.issuer);
}

/** How the notice has ended for the subscriber, if it was delivered or withdrawn (its issuers narrowed while it was being delivered). */
async function endedAs(db: Queryable, subscriberId: string, jti: string): Promise<'delivered' | 'withdrawn' | undefined> {
  const { rows } = await db.query<{ outcome: 'delivered' | 'withdrawn' }>(
    `SELECT outcome FROM revocation_deliveries WHERE notice_jti = $1 AND subscriber_id = $2 AND outcome IN ('delivered', 'withdrawn') ORDER BY outcome = 'withdrawn' DESC LIMIT 1`,
    [jti, subscriberId],
  );
  return rows[0]?.outcome;
}

/** A notice for one subscriber, and how to sign it: signed only once it is recorded as owed, so a notice whose key cannot be loaded is still resent later. */
export interface NoticeToDeliver {
  notice: RevocationNotice;
  /** The issuers it concerns, when more than its own: a jti or sub revocation reaches every issuer with live tokens of it. */
  concerns?: readonly string[];
  /** Signs the notice as owed (its seq the first one recorded). */
  sign: (notice: RevocationNotice) => Promise<string>;
}

/**
 * One activity attempt: re-reads the subscriber (a disabled or unknown one, or one not told of the
 * notice's issuer, is skipped), records the
 * notice as owed to it, skips it when already delivered, signs and delivers it, and logs the attempt
 * either way. Rethrows the WebhookDeliveryError after logging it, so Temporal retries (a refused
 * address: see SubscriberAddressRefusedError).
 */
export async function deliverToSubscriber(db: Queryable, subscriberId: string, signed: NoticeToDeliver, opts: DeliverOptions = {}): Promise<DeliveryOutcome> {
  const sub = await getSubscriber(db, subscriberId);
  if (!sub) return { status: 'skipped', why: 'unknown' };
  if (sub.disabled) return { status: 'skipped', why: 'disabled' };
  let concerns = [...new Set([signed.notice.issuer, ...(signed.concerns ?? [])])];
  if (!tellsOf(sub, concerns)) concerns = [...concerns, ...(await toldOfBefore(db, subscriberId, sub.issuers!, signed.notice))];
  if (!tellsOf(sub, concerns)) return { status: 'skipped', why: 'other-issuer' };
  const notice = await owe(db, subscriberId, signed.notice, concerns);
  // Read again once owed: narrowed meanwhile, the subscriber is told nothing more of it.
  const now = await getSubscriber(db, subscriberId);
  if (now?.disabled) return { status: 'skipped', why: 'disabled' };
  if (!now || !tellsOf(now, concerns)) {
    await endOwedNotice(db, { subscriberId, jti: notice.jti, event: notice.event }, 'withdrawn', WITHDRAWN_BECAUSE);
    return { status: 'skipped', why: 'other-issuer' };
  }
  const ended = await endedAs(db, subscriberId, notice.jti);
  if (ended === 'withdrawn') return { status: 'skipped', why: 'other-issuer' };
  if (ended === 'delivered') return { status: 'already-delivered' };
  let jws: string;
  try {
    jws = await signed.sign(notice);
  } catch (e) {
    const code = isKeyturnError(e) ? e.code : ((e as { type?: unknown }).type ?? 'INTERNAL');
    await recordDelivery(db, { subscriberId, noticeJti: signed.notice.jti, event: signed.notice.event, outcome: 'failed', error: `not signed: ${String(code)}` }).catch(() => {});
    throw e;
  }
  try {
    const { status } = await deliver(sub, jws, opts);
    await recordDelivery(db, { subscriberId, noticeJti: signed.notice.jti, event: signed.notice.event, outcome: 'delivered', httpStatus: status });
    return { status: 'delivered', httpStatus: status };
  } catch (e) {
    if (e instanceof WebhookDeliveryError) {
      const rec: DeliveryRecord = { subscriberId, noticeJti: signed.notice.jti, event: signed.notice.event, outcome: 'failed', error: e.message };
      if (e.status !== undefined) rec.httpStatus = e.status;
      await recordDelivery(db, rec).catch(() => {});
    }
    throw e;
  }
}
