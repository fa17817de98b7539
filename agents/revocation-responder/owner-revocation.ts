import type { Queryable } from '../shared/db.js';
import { revoke } from '../validator/revocation-list.js';
import { liveEntry, lockTarget } from './common.js';

export interface OwnerRevocation {
  jti: string;
  /** Until when a validator may still accept the token: its exp plus its issuer's clock skew. */
  expiresAt: Date;
  reason: string;
}

export interface OwnerRevocationResult {
  revocationId: string;
  /** What the entry was before: a containment's temporary one (now made permanent), a permanent one, or none (null). */
  wasTemporary: boolean | null;
  /** False when the jti was already permanently deny-listed for long enough: nothing was written or announced. */
  changed: boolean;
}

/**
 * A token revoked by its own client (RFC 7009). Runs in the caller's transaction, which must be
 * one (the target lock lasts until it ends), under the same target lock as containment, lift and
 * confirmation, so it never interleaves with them. The entry is permanent and lasts at least until
 * `expiresAt`: a temporary containment of the jti is made permanent and extended (never shortened),
 * so a later false alarm cannot lift the owner's revocation. Idempotent: an entry already permanent
 * and long enough is left alone, and nothing is written or announced to validators.
 */
export async function revokeForOwner(tx: Queryable, r: OwnerRevocation, now: Date): Promise<OwnerRevocationResult> {
  await lockTarget(tx, 'jti', r.jti);
  const existing = await liveEntry(tx, 'jti', r.jti, undefined, now);
  if (existing && !existing.temporary && existing.expiresAt.getTime() >= r.expiresAt.getTime()) {
    return { revocationId: existing.id, wasTemporary: false, changed: false };
  }
  // One upsert: temporary = old AND new (false), expires_at = GREATEST(old, new), and its notice.
  const row = await revoke(tx, { kind: 'jti', value: r.jti, expiresAt: r.expiresAt, temporary: false, reason: r.reason });
  return { revocationId: row.id, wasTemporary: existing ? existing.temporary : null, changed: true };
}
