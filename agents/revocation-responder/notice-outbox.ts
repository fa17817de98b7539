import type { Queryable } from '../shared/db.js';
import { withTransaction } from '../shared/db.js';
import type { RevocationKind } from '../validator/revocation-list.js';
import type { AppendAudit } from '../auditor/types.js';
import { resolveDeps, type ResponderDeps } from './common.js';
import { buildRevocationNotice, signRevocationNotice, type RevocationEvent, type RevocationNoticeSigner } from './notice.js';
import { endOwedNotice, UNENDED } from './owed-notices.js';
import { deliverToSubscriber, isWebhookDeliveryError, type DeliverOptions } from './webhooks.js';

/** How long an undelivered notice is resent before it is abandoned (audited). */
export const NOTICE_RESEND_DAYS = 7;
/** The pause after a notice's last attempt: half its time owed so far, from 2 minutes to an hour. */
const SHORTEST_PAUSE_SECONDS = 120;
const LONGEST_PAUSE_SECONDS = 3_600;

export interface ResendOptions extends ResponderDeps {
  signer: () => Promise<RevocationNoticeSigner>;
  policyVersion: string;
  deliver?: DeliverOptions;
  /** Notices sent to one subscriber in one pass, oldest first. Default 50. */
  perSubscriber?: number;
  /** Subscribers resent to at once. Default 8. */
  concurrency?: number;
}

export interface ResendReport {
  delivered: number;
  /** Resends that failed or were refused: each is tried again after a longer pause. */
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
  seq: string;
  concerns: string[] | null;
}

/**
 * A later change of the same target (a greater seq) has reached the subscriber. A `confirmed`
 * notice is final: a later containment (another run of an already revoked target) does not replace it.
 */
const SUPERSEDED = `EXISTS (
  SELECT 1 FROM revocation_notices l
  JOIN revocation_deliveries ld ON ld.notice_jti = l.notice_jti AND ld.subscriber_id = l.subscriber_id AND ld.outcome = 'delivered'
  WHERE l.subscriber_id = n.subscriber_id AND l.kind = n.kind AND l.value = n.value AND l.issuer = n.issuer
    AND l.before IS NOT DISTINCT FROM n.before AND l.seq > n.seq
    AND NOT (n.event = 'revocation.confirmed' AND l.event = 'revocation.contained'))`;

/** Half the time from `since` to `last`, from 2 minutes ($4) to an hour ($5). */
const pause = (last: string, since: string) => `greatest(make_interval(secs => $4), least(make_interval(secs => $5), (${last} - ${since}) / 2))`;

const COLUMNS = 'n.notice_jti, n.subscriber_id, n.event, n.kind, n.value, n.before, n.issuer, n.revoked_at, n.seq::text AS seq, n.concerns';

/** Owed notices to end: superseded ones, and those past the resend window. Looked at up to a week past it, so a worker down for days still abandons them. */
const TO_END_SQL = `
SELECT ${COLUMNS}, ${SUPERSEDED} AS superseded
FROM revocation_notices n
WHERE n.created_at > $1::timestamptz - make_interval(days => $2 + 7) AND ${UNENDED}
  AND (n.created_at <= $1::timestamptz - make_interval(days => $2) OR ${SUPERSEDED})
ORDER BY n.seq
LIMIT 1000`;

/** A failed attempt that says the subscriber is unwell (down, 5xx, refused address, gone), not that it refused one notice (4xx). */
const SUBSCRIBER_FAILURE = `d.outcome = 'failed' AND (d.http_status IS NULL OR d.http_status NOT BETWEEN 400 AND 499 OR d.http_status IN (401, 403, 404, 408, 410, 429))`;

/**
 * Per enabled subscriber told of what they concern, up to $3 owed notices in seq order that are due
 * (their pause since their last attempt, or since they were owed, has passed), when the subscriber
 * itself is due: its pause since its last failure of its own (not a 4xx refusal of one notice),
 * counted from its oldest owed notice, has passed. So a subscriber that is down gets one attempt per
 * pause whatever its backlog.
 */
const TO_SEND_SQL = `
WITH owed AS (
  SELECT ${COLUMNS}, n.created_at,
         coalesce((SELECT max(d.attempted_at) FROM revocation_deliveries d WHERE d.notice_jti = n.notice_jti AND d.subscriber_id = n.subscriber_id), n.created_at) AS last_at,
         (SELECT max(d.attempted_at) FROM revocation_deliveries d WHERE d.notice_jti = n.notice_jti AND d.subscriber_id = n.subscriber_id AND ${SUBSCRIBER_FAILURE}) AS failed_at
  FROM revocation_notices n
  JOIN revocation_subscribers s ON s.id = n.subscriber_id AND NOT s.disabled AND (s.issuers IS NULL OR coalesce(n.concerns, ARRAY[n.issuer]) && s.issuers)
  WHERE n.created_at > $1::timestamptz - make_interval(days => $2) AND ${UNENDED} AND NOT ${SUPERSEDED}
), gated AS (
  SELECT owed.*, min(created_at) OVER (PARTITION BY subscriber_id) AS oldest_at, max(failed_at) OVER (PARTITION BY subscriber_id) AS sub_failed_at
  FROM owed
), due AS (
  SELECT gated.*, row_number() OVER (PARTITION BY subscriber_id ORDER BY seq::bigint, notice_jti) AS pos
  FROM gated
  WHERE last_at <= $1::timestamptz - ${pause('last_at', 'created_at')}
    AND (sub_failed_at IS NULL OR sub_failed_at <= $1::timestamptz - ${pause('sub_failed_at', 'oldest_at')})
)
SELECT notice_jti, subscriber_id, event, kind, value, before, issuer, revoked_at, seq, concerns
FROM due
WHERE pos <= $3
ORDER BY subscriber_id, pos`;

/**
 * Resends the notices a run could not deliver (a subscriber down for more than its minute and a
 * half of attempts, a notice key that could not be read), each signed anew when sent: a new iat
 * and exp, the same jti, seq and revokedAt, so a subscriber drops a repeat and orders notices by
 * seq. One subscriber's notices go oldest first; its pass stops at its first failure, but goes on
 * past a notice it refused (4xx). A notice
 * whose target a later change has since reached at the subscriber is marked superseded; one still
 * undelivered after NOTICE_RESEND_DAYS is abandoned (audited).
 */
export async function resendOwedNotices(db: Queryable, o: ResendOptions): Promise<ResendReport> {
  const { appendAudit, clock } = resolveDeps(o);
  const now = clock.now();
  const report: ResendReport = { delivered: 0, failed: 0, superseded: 0, abandoned: 0 };
  const toEnd = await db.query<OwedRow & { superseded: boolean }>(TO_END_SQL, [now, NOTICE_RESEND_DAYS]);
  for (const r of toEnd.rows) {
    if (await endNotice(db, r, r.superseded ? 'superseded' : 'abandoned', appendAudit, o.policyVersion)) report[r.superseded ? 'superseded' : 'abandoned']++;
  }
  const toSend = await db.query<OwedRow>(TO_SEND_SQL, [now, NOTICE_RESEND_DAYS, o.perSubscriber ?? 50, SHORTEST_PAUSE_SECONDS, LONGEST_PAUSE_SECONDS]);
  const bySubscriber = new Map<string, OwedRow[]>();
  for (const r of toSend.rows) bySubscriber.set(r.subscriber_id, [...(bySubscriber.get(r.subscriber_id) ?? []), r]);
  const queue = [...bySubscriber.values()];
  const sendAll = async () => {
    for (let owed = queue.shift(); owed; owed = queue.shift()) {
      for (const r of owed) {
        const outcome = await resendOne(db, r, () => o.signer(), clock.now(), o.deliver);
        if (outcome === 'delivered') report.delivered++;
        if (outcome === 'refused' || outcome === 'failed') report.failed++;
        // A notice the subscriber refused (4xx) is its own trouble: the next one goes on (subscribers order by seq).
        if (outcome === 'failed') break;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 8, queue.length) }, sendAll));
  return report;
}

/** Ends a notice once (a unique index stops a second worker); an abandoned one is audited with it. False when another worker ended it first. */
async function endNotice(db: Queryable, r: OwedRow, outcome: 'superseded' | 'abandoned', appendAudit: AppendAudit, policyVersion: string): Promise<boolean> {
  return withTransaction(db, async (tx) => {
    const why = outcome === 'superseded' ? 'a later notice of the same target was delivered' : `not delivered within ${NOTICE_RESEND_DAYS} days`;
    if (!(await endOwedNotice(tx, { subscriberId: r.subscriber_id, jti: r.notice_jti, event: r.event }, outcome, why))) return false;
    if (outcome === 'abandoned') {
      await appendAudit(tx, {
        actor: { role: 'RevocationResponder' }, action: 'revocation.notice_abandoned', subject: { subscriber: r.subscriber_id }, policyVersion, outcome: 'failed',
        details: { notice: r.notice_jti, event: r.event, seq: Number(r.seq), target: { [r.kind]: r.value, ...(r.before ? { before: r.before.toISOString() } : {}) }, issuer: r.issuer, resentForDays: NOTICE_RESEND_DAYS },
      });
    }
    return true;
  });
}

/**
 * `refused`: the subscriber answered 4xx to this notice (but 401, 403, 404, 410: it is gone or
 * shuts keyturn out; 408, 429: it is busy); `failed`: anything else
 * (down, 5xx, a refused address, no notice key); `skipped`: delivered meanwhile, or the subscriber
 * was disabled meanwhile. Failures are logged by deliverToSubscriber.
 */
async function resendOne(db: Queryable, r: OwedRow, signer: () => Promise<RevocationNoticeSigner>, now: Date, deliver: DeliverOptions | undefined): Promise<'delivered' | 'refused' | 'failed' | 'skipped'> {
  try {
    const notice = buildRevocationNotice({
      event: r.event, kind: r.kind, value: r.value, ...(r.before ? { before: r.before } : {}), issuer: r.issuer,
      revokedAt: r.revoked_at, seq: Number(r.seq), aud: r.subscriber_id, jti: r.notice_jti, issuedAt: now,
    });
    const done = await deliverToSubscriber(db, r.subscriber_id, { notice, sign: async (owed) => signRevocationNotice(owed, await signer()), ...(r.concerns ? { concerns: r.concerns } : {}) }, deliver);
    return done.status === 'delivered' ? 'delivered' : 'skipped';
  } catch (e) {
    const status = isWebhookDeliveryError(e) ? e.status : undefined;
    return status !== undefined && status >= 400 && status < 500 && ![401, 403, 404, 408, 410, 429].includes(status) ? 'refused' : 'failed';
  }
}

/** Per subscriber, the notices still owed to it (within the resend window, not yet delivered, superseded or abandoned); subscribers owed none are absent. */
export async function owedNoticeCounts(db: Queryable, now = new Date()): Promise<Map<string, number>> {
  const { rows } = await db.query<{ subscriber_id: string; owed: number }>(
    `SELECT n.subscriber_id, count(*)::int AS owed FROM revocation_notices n
     WHERE n.created_at > $1::timestamptz - make_interval(days => $2) AND ${UNENDED}
     GROUP BY n.subscriber_id`,
    [now, NOTICE_RESEND_DAYS],
  );
  return new Map(rows.map((r) => [r.subscriber_id, r.owed]));
}
