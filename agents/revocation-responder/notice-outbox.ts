import { isKeyturnError } from '../../config/errors.js';
import type { Queryable } from '../shared/db.js';
import { withTransaction } from '../shared/db.js';
import type { RevocationKind } from '../validator/revocation-list.js';
import { resolveDeps, type ResponderDeps } from './common.js';
import { buildRevocationNotice, signRevocationNotice, type RevocationEvent, type RevocationNoticeSigner } from './notice.js';
import { deliverToSubscriber, isWebhookDeliveryError, recordDelivery, type DeliverOptions } from './webhooks.js';

/** How long an undelivered notice is resent before it is abandoned (audited). */
export const NOTICE_RESEND_DAYS = 7;
/** Attempts a run makes itself before the worker takes over (workflows/revocation.ts: 6). */
const RUN_ATTEMPTS = 6;
/** The pause after the last attempt: 2 minutes, doubling with each resend that failed, at most an hour. */
const FIRST_PAUSE_SECONDS = 120;
const LONGEST_PAUSE_SECONDS = 3_600;
const MAX_DOUBLINGS = Math.ceil(Math.log2(LONGEST_PAUSE_SECONDS / FIRST_PAUSE_SECONDS));

export interface ResendOptions extends ResponderDeps {
  signer: () => Promise<RevocationNoticeSigner>;
  policyVersion: string;
  deliver?: DeliverOptions;
  /** Notices looked at in one pass, oldest first. Default 500. */
  batch?: number;
  /** Subscribers resent to at once. Default 8. */
  concurrency?: number;
}

export interface ResendReport {
  delivered: number;
  /** Resends that failed: the notice is tried again after a longer pause. */
  failed: number;
  /** A later notice of the same target reached the subscriber: nothing more is owed. */
  superseded: number;
  /** Still undelivered after NOTICE_RESEND_DAYS: given up, audited as revocation.notice_abandoned. */
  abandoned: number;
}

interface OwedRow extends Record<string, unknown> {
  notice_jti: string;
  subscriber_id: string;
  event: RevocationEvent;
  kind: RevocationKind;
  value: string;
  before: Date | null;
  issuer: string;
  revoked_at: Date;
  disabled: boolean;
  superseded: boolean;
  expired: boolean;
}

/**
 * Notices with no delivered, superseded or abandoned attempt, that are due: past their pause since
 * the last attempt (enabled subscribers only), superseded, or past the resend window. A notice too
 * old to be looked at (window + 7 days) was abandoned by an earlier pass or missed while no worker ran.
 */
const OWED_SQL = `
SELECT * FROM (
  SELECT n.notice_jti, n.subscriber_id, n.event, n.kind, n.value, n.before, n.issuer, n.revoked_at, s.disabled,
         n.created_at <= $1::timestamptz - make_interval(days => $2) AS expired,
         greatest(n.created_at, max(d.attempted_at))
           <= $1::timestamptz - make_interval(secs => least($3, $4 * power(2, least($5, greatest(0, count(d.id) FILTER (WHERE d.outcome = 'failed') - $6))))) AS due,
         coalesce(bool_or(d.outcome IN ('delivered', 'superseded', 'abandoned')), false) AS settled,
         EXISTS (
           SELECT 1 FROM revocation_notices l
           JOIN revocation_deliveries ld ON ld.notice_jti = l.notice_jti AND ld.subscriber_id = l.subscriber_id AND ld.outcome = 'delivered'
           WHERE l.subscriber_id = n.subscriber_id AND l.kind = n.kind AND l.value = n.value AND l.issuer = n.issuer
             AND l.before IS NOT DISTINCT FROM n.before AND l.revoked_at > n.revoked_at
         ) AS superseded
  FROM revocation_notices n
  JOIN revocation_subscribers s ON s.id = n.subscriber_id
  LEFT JOIN revocation_deliveries d ON d.notice_jti = n.notice_jti AND d.subscriber_id = n.subscriber_id
  WHERE n.created_at > $1::timestamptz - make_interval(days => $2 + 7)
  GROUP BY n.notice_jti, n.subscriber_id, s.disabled
) owed
WHERE NOT settled AND (expired OR superseded OR (due AND NOT disabled))
ORDER BY subscriber_id, revoked_at, notice_jti
LIMIT $7`;

/**
 * Resends the notices a run could not deliver (a subscriber down for more than its minute and a
 * half of attempts), re-signed with a new iat and exp and the same jti and revokedAt, so a
 * subscriber drops a repeat and orders notices by revokedAt. One subscriber's notices go oldest
 * first, and its pass stops at its first failure. A notice whose target a later notice has since
 * reached is marked superseded; one still undelivered after NOTICE_RESEND_DAYS is abandoned.
 */
export async function resendOwedNotices(db: Queryable, o: ResendOptions): Promise<ResendReport> {
  const { appendAudit, clock } = resolveDeps(o);
  const now = clock.now();
  const { rows } = await db.query<OwedRow>(OWED_SQL, [now, NOTICE_RESEND_DAYS, LONGEST_PAUSE_SECONDS, FIRST_PAUSE_SECONDS, MAX_DOUBLINGS, RUN_ATTEMPTS, o.batch ?? 500]);
  const report: ResendReport = { delivered: 0, failed: 0, superseded: 0, abandoned: 0 };
  const toSend = new Map<string, OwedRow[]>();
  for (const r of rows) {
    const attempt = { subscriberId: r.subscriber_id, noticeJti: r.notice_jti, event: r.event };
    if (r.superseded) {
      await recordDelivery(db, { ...attempt, outcome: 'superseded', error: 'a later notice of the same target was delivered' });
      report.superseded++;
    } else if (r.expired) {
      await withTransaction(db, async (tx) => {
        await recordDelivery(tx, { ...attempt, outcome: 'abandoned', error: `not delivered within ${NOTICE_RESEND_DAYS} days` });
        await appendAudit(tx, {
          actor: { role: 'RevocationResponder' }, action: 'revocation.notice_abandoned', subject: { subscriber: r.subscriber_id }, policyVersion: o.policyVersion, outcome: 'failed',
          details: { notice: r.notice_jti, event: r.event, target: { [r.kind]: r.value, ...(r.before ? { before: r.before.toISOString() } : {}) }, issuer: r.issuer, resentForDays: NOTICE_RESEND_DAYS },
        });
      });
      report.abandoned++;
    } else {
      toSend.set(r.subscriber_id, [...(toSend.get(r.subscriber_id) ?? []), r]);
    }
  }
  const signer = toSend.size > 0 ? await o.signer() : undefined;
  const queue = [...toSend.values()];
  const worker = async () => {
    for (let owed = queue.shift(); owed; owed = queue.shift()) {
      for (const r of owed) {
        const outcome = await resendOne(db, r, signer!, now, o.deliver);
        if (outcome === 'delivered') report.delivered++;
        if (outcome === 'failed') {
          report.failed++;
          break;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 8, queue.length) }, worker));
  return report;
}

/** `skipped`: delivered meanwhile, or the subscriber was disabled meanwhile. */
async function resendOne(db: Queryable, r: OwedRow, signer: RevocationNoticeSigner, now: Date, deliver: DeliverOptions | undefined): Promise<'delivered' | 'failed' | 'skipped'> {
  const notice = buildRevocationNotice({
    event: r.event, kind: r.kind, value: r.value, ...(r.before ? { before: r.before } : {}), issuer: r.issuer,
    revokedAt: r.revoked_at, aud: r.subscriber_id, jti: r.notice_jti, issuedAt: now,
  });
  try {
    const done = await deliverToSubscriber(db, r.subscriber_id, { jws: await signRevocationNotice(notice, signer), notice }, deliver);
    return done.status === 'delivered' ? 'delivered' : 'skipped';
  } catch (e) {
    // deliverToSubscriber logs a failed delivery; anything else is logged here, so the pause before the next attempt grows.
    if (!isWebhookDeliveryError(e)) {
      const code = isKeyturnError(e) ? e.code : 'INTERNAL';
      await recordDelivery(db, { subscriberId: r.subscriber_id, noticeJti: r.notice_jti, event: r.event, outcome: 'failed', error: `not resent: ${code}` }).catch(() => undefined);
    }
    return 'failed';
  }
}

/** Per subscriber, the notices still owed to it (not yet delivered, superseded or abandoned); subscribers owed none are absent. */
export async function owedNoticeCounts(db: Queryable): Promise<Map<string, number>> {
  const { rows } = await db.query<{ subscriber_id: string; owed: number }>(`
    SELECT n.subscriber_id, count(*)::int AS owed FROM revocation_notices n
    WHERE NOT EXISTS (
      SELECT 1 FROM revocation_deliveries d
      WHERE d.notice_jti = n.notice_jti AND d.subscriber_id = n.subscriber_id AND d.outcome IN ('delivered', 'superseded', 'abandoned')
    )
    GROUP BY n.subscriber_id`);
  return new Map(rows.map((r) => [r.subscriber_id, r.owed]));
}
