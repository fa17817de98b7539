import { createHash } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';
import type { IssuerPolicy } from '../planner/policy-types.js';
import { withTransaction, type Queryable } from '../shared/db.js';
import { getPause, resumeIssuance } from '../token-issuer/issuance-control.js';
import { REVOCATION_CHANNEL, revoke } from '../validator/revocation-list.js';
import { liveEntry, lockTarget, optionalDate, requireBase, requireText, resolveDeps, subjectOf, type Instant, type ResponderDeps, type ResponderOpBase } from './common.js';
import { isContainmentPause, refusalAudited } from './containment.js';
import type { KeyState } from '../key-manager/types.js';

/** How long a confirmed kid entry holds when the caller gives no horizon (and never less than the kid's latest token). */
export const DEFAULT_KID_REVOCATION_SECONDS = 90 * 24 * 3600;
/** At most this many jtis are listed in a result (Temporal payloads stay small); the count and digest cover all. */
export const REPORT_JTI_LIMIT = 1000;
const BATCH = 5000;

/**
 * Until when a confirmed kid entry matters: a revoked key leaves the JWKS, validators may cache the
 * old JWKS for jwksMaxAgeSeconds, and a token minted just before that is accepted for at most
 * maxTokenAgeSeconds (plus skew). Pure; the workflow may pass the result as `kidExpiresAt`.
 */
export function kidRevocationHorizon(policy: Pick<IssuerPolicy, 'jwksMaxAgeSeconds' | 'maxTokenAgeSeconds' | 'clockSkewSeconds'>, revokedAt: Instant): string {
  const at = new Date(revokedAt).getTime();
  if (Number.isNaN(at)) throw new KeyturnError('REVOCATION_INVALID', 'revokedAt must be a valid instant');
  return new Date(at + (policy.jwksMaxAgeSeconds + policy.maxTokenAgeSeconds + policy.clockSkewSeconds) * 1000).toISOString();
}

/**
 * The kid entry's end when a compromise is confirmed: the horizon counted from the confirmation,
 * when the key leaves the JWKS (a sign-off may come days after the plan), never before the plan's.
 * `policy`: the issuer's policy now, undefined when it has left the policy (the plan's horizon stands).
 */
export function kidHorizonAtConfirmation(planned: Instant, policy: Parameters<typeof kidRevocationHorizon>[0] | undefined, confirmedAt: Instant): string {
  const plannedAt = new Date(planned);
  if (Number.isNaN(plannedAt.getTime())) throw new KeyturnError('REVOCATION_INVALID', 'the planned kid horizon must be a valid instant');
  if (!policy) return plannedAt.toISOString();
  const fromNow = kidRevocationHorizon(policy, confirmedAt);
  return Date.parse(fromNow) > plannedAt.getTime() ? fromNow : plannedAt.toISOString();
}

/** sha256 (hex) over the sorted jtis, one per line: evidence of exactly which tokens were denied. */
export function jtiDigest(jtis: readonly string[]): string {
  return createHash('sha256').update([...jtis].sort().join('\n')).digest('hex');
}

export interface RevokeCompromisedKeyRequest extends ResponderOpBase {
  issuer: string;
  kid: string;
  /** The kid entry lasts at least until this (see kidRevocationHorizon). Default: now + DEFAULT_KID_REVOCATION_SECONDS, unless already permanent. */
  kidExpiresAt?: Instant;
}

export interface CompromiseRevocation {
  issuer: string;
  kid: string;
  /** The key's state as seen (KeyManager revokes/replaces it; this module does not touch keys). */
  keyState: KeyState | 'unknown';
  kidRevocationId: string;
  kidExpiresAt: string;
  /** Unexpired tokens recorded under the kid: each has a permanent jti entry until its own exp. */
  deniedCount: number;
  /** Tokens under the kid that had already expired: nothing left to deny. */
  expiredCount: number;
  /** The denied jtis, oldest first, at most REPORT_JTI_LIMIT of them. */
  jtis: string[];
  jtisTruncated: boolean;
  /** jtiDigest of every denied jti. */
  jtiDigest: string;
  /** Latest exp among the denied tokens, if any. */
  latestExp: string | null;
  /** False when all of it was already in place. */
  changed: boolean;
}

/**
 * After sign-off on a key compromise: makes the kid entry permanent (extending it to cover every
 * token under the kid), and deny-lists every unexpired token recorded under the kid (the
 * issued_tokens table, as tokensByKid reads it) with its own
 * permanent jti entry until that token's exp — so each stays revoked even if the kid entry is ever
 * lifted or purged. One transaction with its `revocation.confirmed` audit entry; idempotent (a
 * repeat writes nothing and reports the same tokens). Every changed entry is announced on the
 * validators' channel, in the same format as agents/validator/revocation-list.ts.
 *
 * It does not revoke or replace the key itself: that is KeyManager's (`activate` with
 * `previousTo: 'revoked'` for an active key, `revoke` otherwise), and issuance stays paused until
 * {@link releaseIssuance}.
 */
export async function revokeCompromisedKey(db: Queryable, req: RevokeCompromisedKeyRequest, deps: ResponderDeps = {}): Promise<CompromiseRevocation> {
  requireBase(req);
  const issuer = requireText(req.issuer, 'issuer');
  const kid = requireText(req.kid, 'kid', 1024);
  const explicitHorizon = optionalDate(req.kidExpiresAt, 'kidExpiresAt');
  const { appendAudit, clock } = resolveDeps(deps);
  const now = clock.now();
  const subject = subjectOf('kid', kid, issuer);

  return refusalAudited(db, appendAudit, req, 'revocation.confirmed', subject, () =>
    withTransaction(db, async (tx) => {
      await lockTarget(tx, 'kid', kid);
      const key = (await tx.query<{ issuer: string; state: KeyState }>(`SELECT issuer, state FROM signing_keys WHERE kid = $1 FOR SHARE`, [kid])).rows[0];
      if (key && key.issuer !== issuer) {
        throw new KeyturnError('REVOCATION_INVALID', `key ${kid} does not belong to issuer ${issuer}`, 'Name the issuer that owns the key.', { kid, issuer });
      }
      const foreign = await tx.query(`SELECT 1 FROM issued_tokens WHERE kid = $1 AND issuer <> $2 LIMIT 1`, [kid, issuer]);
      if (foreign.rows.length > 0) throw new KeyturnError('REVOCATION_INVALID', `tokens under kid ${kid} were issued by another issuer`, 'Name the issuer that owns the key.', { kid, issuer });
      // Only the unexpired ones are read (a long-lived key may have signed millions); the rest are counted.
      const live = (await tx.query<{ jti: string; exp: Date }>(`SELECT jti, exp FROM issued_tokens WHERE kid = $1 AND exp > $2 ORDER BY iat, jti`, [kid, now])).rows;
      const expiredCount = (await tx.query<{ n: string }>(`SELECT count(*)::text AS n FROM issued_tokens WHERE kid = $1 AND exp <= $2`, [kid, now])).rows[0]!.n;
      const latest = live.reduce<Date | undefined>((m, t) => (m === undefined || t.exp > m ? t.exp : m), undefined);

      const existing = await liveEntry(tx, 'kid', kid, undefined, now);
      const base = explicitHorizon ?? (existing && !existing.temporary ? existing.expiresAt : new Date(now.getTime() + DEFAULT_KID_REVOCATION_SECONDS * 1000));
      const kidExpiresAt = latest && latest > base ? latest : base;
      let kidRevocationId: string;
      let changed = false;
      if (existing && !existing.temporary && existing.expiresAt.getTime() >= kidExpiresAt.getTime()) {
        kidRevocationId = existing.id;
      } else {
        // The upsert turns a temporary entry permanent and only ever extends its expiry.
        kidRevocationId = (await revoke(tx, { kind: 'kid', value: kid, expiresAt: kidExpiresAt, temporary: false, reason: req.reason })).id;
        changed = true;
      }
      const finalKidExpiry = existing && existing.expiresAt > kidExpiresAt ? existing.expiresAt : kidExpiresAt;

      let jtiChanges = 0;
      for (let i = 0; i < live.length; i += BATCH) {
        const chunk = live.slice(i, i + BATCH);
        jtiChanges += await denyJtis(tx, chunk.map((t) => t.jti), chunk.map((t) => t.exp), req.reason);
      }
      if (jtiChanges > 0) changed = true;

      const jtis = live.map((t) => t.jti);
      const result: CompromiseRevocation = {
        issuer,
        kid,
        keyState: key?.state ?? 'unknown',
        kidRevocationId,
        kidExpiresAt: finalKidExpiry.toISOString(),
        deniedCount: live.length,
        expiredCount: Number(expiredCount),
        jtis: jtis.slice(0, REPORT_JTI_LIMIT),
        jtisTruncated: jtis.length > REPORT_JTI_LIMIT,
        jtiDigest: jtiDigest(jtis),
        latestExp: latest?.toISOString() ?? null,
        changed,
      };
      if (changed) {
        await appendAudit(tx, {
          actor: req.actor,
          action: 'revocation.confirmed',
          subject,
          policyVersion: req.policyVersion,
          outcome: 'ok',
          details: {
            reason: req.reason,
            keyState: result.keyState,
            kidRevocationId,
            kidExpiresAt: result.kidExpiresAt,
            deniedCount: result.deniedCount,
            newJtiEntries: jtiChanges,
            expiredCount: result.expiredCount,
            jtiDigest: result.jtiDigest,
            latestExp: result.latestExp,
          },
        });
      }
      return result;
    }),
  );
}

/**
 * Permanent jti entries, each until its token's exp, in one statement: an entry already permanent
 * and long enough is left alone (no write, no notice). Returns how many entries were written.
 */
async function denyJtis(tx: Queryable, jtis: string[], exps: Date[], reason: string): Promise<number> {
  if (jtis.length === 0) return 0;
  const res = await tx.query<{ n: number }>(
    `WITH r AS (
       INSERT INTO revocations (kind, value, expires_at, temporary, reason)
       SELECT 'jti', t.jti, t.exp, false, $3 FROM unnest($1::text[], $2::timestamptz[]) AS t(jti, exp)
       ON CONFLICT (kind, value, (COALESCE(not_before, '-infinity'::timestamptz)))
       DO UPDATE SET expires_at = GREATEST(revocations.expires_at, EXCLUDED.expires_at), temporary = false
         WHERE revocations.temporary OR revocations.expires_at < EXCLUDED.expires_at
       RETURNING id, kind, value),
     n AS (SELECT pg_notify('${REVOCATION_CHANNEL}', json_build_object('op', 'upsert', 'id', r.id::text, 'kind', r.kind, 'value', r.value)::text) FROM r)
     SELECT count(*)::int AS n FROM n`,
    [jtis, exps, reason],
  );
  return res.rows[0]!.n;
}

export interface ReleaseIssuanceRequest extends ResponderOpBase {
  issuer: string;
  /** The kid whose containment paused issuance. */
  compromisedKid: string;
}

export interface ReleaseResult {
  /** The issuer's active key issuance continues with. */
  activeKid: string;
  /** False when issuance was not paused by a containment of this kid (another pause stays in force). */
  resumed: boolean;
}

/**
 * Ends a confirmed compromise's pause once KeyManager has put a new key in place. Fails closed:
 * refuses (REVOCATION_RELEASE_UNSAFE) while the issuer has no active key, or its active key is the
 * compromised one or is itself deny-listed. Resumes only a pause written by a containment of
 * `compromisedKid` (`issuance.resume` is audited by the TokenIssuer's resumeIssuance).
 */
export async function releaseIssuance(db: Queryable, req: ReleaseIssuanceRequest, deps: ResponderDeps = {}): Promise<ReleaseResult> {
  requireBase(req);
  const issuer = requireText(req.issuer, 'issuer');
  const kid = requireText(req.compromisedKid, 'compromisedKid', 1024);
  const { appendAudit, clock } = resolveDeps(deps);
  const now = clock.now();
  return refusalAudited(db, appendAudit, req, 'revocation.release', subjectOf('kid', kid, issuer), () =>
    withTransaction(db, async (tx) => {
      await lockTarget(tx, 'kid', kid);
      const active = (await tx.query<{ kid: string }>(`SELECT kid FROM signing_keys WHERE issuer = $1 AND state = 'active' FOR SHARE`, [issuer])).rows[0]?.kid;
      const unsafe = (why: string) =>
        new KeyturnError('REVOCATION_RELEASE_UNSAFE', `issuance for ${issuer} stays paused: ${why}`, 'Have KeyManager generate and activate a replacement key first (the revocation workflow does).', { issuer, kid });
      if (!active) throw unsafe('it has no active key');
      if (active === kid) throw unsafe('its active key is the compromised one');
      if (await liveEntry(tx, 'kid', active, undefined, now)) throw unsafe(`its active key ${active} is deny-listed`);
      const pause = await getPause(tx, issuer);
      if (!isContainmentPause(pause, kid)) return { activeKid: active, resumed: false };
      await resumeIssuance(tx, issuer, req.actor, { appendAudit, policyVersion: req.policyVersion });
      return { activeKid: active, resumed: true };
    }),
  );
}
