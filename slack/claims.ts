import type { Queryable } from '../agents/shared/db.js';

/**
 * One-time claims on Slack interactions: a replayed request (same trigger) or a second click by the
 * same approver on the same run finds its claim taken and records nothing. A claim is released
 * when the decision could not be delivered, so the approver may try again.
 */
export interface ClaimLedger {
  /** True when this call took the claim; false when it was already taken. */
  claim(key: string): Promise<boolean>;
  /** Whether the claim is taken, without taking it. */
  isClaimed(key: string): Promise<boolean>;
  release(key: string): Promise<void>;
}

/** Slack replays a request at most 5 minutes after it was signed; keep claims a little longer. */
export const CLAIM_TTL_SECONDS = 15 * 60;

/** Claims for one process. */
export function memoryClaims(now: () => number = Date.now): ClaimLedger {
  const claims = new Map<string, number>();
  return {
    async claim(key) {
      const t = now();
      for (const [k, at] of claims) if (t - at > CLAIM_TTL_SECONDS * 1000) claims.delete(k);
      if (claims.has(key)) return false;
      claims.set(key, t);
      return true;
    },
    async isClaimed(key) {
      const at = claims.get(key);
      return at !== undefined && now() - at <= CLAIM_TTL_SECONDS * 1000;
    },
    async release(key) {
      claims.delete(key);
    },
  };
}

/** Claims shared by every replica, in table slack_action_claims. */
export function pgClaims(db: Queryable): ClaimLedger {
  return {
    async claim(key) {
      await db.query(`DELETE FROM slack_action_claims WHERE claimed_at < now() - make_interval(secs => $1)`, [CLAIM_TTL_SECONDS]);
      const res = await db.query('INSERT INTO slack_action_claims (claim) VALUES ($1) ON CONFLICT (claim) DO NOTHING', [key]);
      return res.rowCount === 1;
    },
    async isClaimed(key) {
      const res = await db.query('SELECT 1 FROM slack_action_claims WHERE claim = $1 AND claimed_at >= now() - make_interval(secs => $2)', [key, CLAIM_TTL_SECONDS]);
      return (res.rowCount ?? 0) > 0;
    },
    async release(key) {
      await db.query('DELETE FROM slack_action_claims WHERE claim = $1', [key]);
    },
  };
}
