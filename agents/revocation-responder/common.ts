import { KeyturnError } from '../../config/errors.js';
import { appendAudit as defaultAppendAudit } from '../auditor/audit-log.js';
import type { AppendAudit, AuditActor } from '../auditor/types.js';
import { systemClock, type Clock } from '../shared/clock.js';
import type { Queryable } from '../shared/db.js';
import type { RevocationKind } from '../validator/revocation-list.js';

/** What every RevocationResponder operation may be given; both default to the production ones. */
export interface ResponderDeps {
  appendAudit?: AppendAudit;
  clock?: Clock;
}

/** Who acts and under which policy: recorded on every audit entry the responder writes. */
export interface ResponderOpBase {
  actor: AuditActor;
  policyVersion: string;
  /** Why (1–2048 characters): shown to operators, stored on deny-list entries, audited. */
  reason: string;
}

/**
 * Instants cross Temporal history as ISO strings: every request accepts a Date or an ISO-8601
 * string, and every result carries ISO strings.
 */
export type Instant = Date | string;

export function resolveDeps(deps: ResponderDeps = {}): Required<ResponderDeps> {
  return { appendAudit: deps.appendAudit ?? defaultAppendAudit, clock: deps.clock ?? systemClock };
}

export function toDate(value: Instant, field: string): Date {
  const d = value instanceof Date ? new Date(value.getTime()) : typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(d.getTime())) throw new KeyturnError('REVOCATION_INVALID', `${field} must be a valid instant (a Date or an ISO-8601 string)`);
  return d;
}

export function optionalDate(value: Instant | undefined, field: string): Date | undefined {
  return value === undefined || value === null ? undefined : toDate(value, field);
}

export function requireText(value: unknown, field: string, max = 2048): string {
  if (typeof value !== 'string' || value.length < 1 || value.length > max) {
    throw new KeyturnError('REVOCATION_INVALID', `${field} must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

export function requireBase(req: ResponderOpBase): void {
  if (!req || typeof req !== 'object' || !req.actor || typeof req.actor !== 'object') throw new KeyturnError('REVOCATION_INVALID', 'an actor is required');
  requireText(req.policyVersion, 'policyVersion', 200);
  requireText(req.reason, 'reason');
}

/** Truncates to `max` characters (database CHECKs cap reasons at 2048). */
export function clip(text: string, max = 2048): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * Serialises every responder operation on one deny-list identity (kind/value) until the caller's
 * transaction ends, so two deliveries of the same request never interleave.
 */
export async function lockTarget(tx: Queryable, kind: RevocationKind, value: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('keyturn.revocation-responder:' || $1 || ':' || $2, 0))`, [kind, value]);
}

export interface EntryRow {
  id: string;
  temporary: boolean;
  expiresAt: Date;
}

/** The deny-list entry with this identity that still matches tokens at `now`, if any. */
export async function liveEntry(db: Queryable, kind: RevocationKind, value: string, before: Date | undefined, now: Date): Promise<EntryRow | undefined> {
  const res = await db.query<{ id: string; temporary: boolean; expires_at: Date }>(
    `SELECT id::text AS id, temporary, expires_at FROM revocations
      WHERE kind = $1 AND value = $2
        AND COALESCE(not_before, '-infinity'::timestamptz) = COALESCE($3::timestamptz, '-infinity'::timestamptz)
        AND expires_at > $4`,
    [kind, value, before ?? null, now],
  );
  const r = res.rows[0];
  return r ? { id: r.id, temporary: r.temporary, expiresAt: r.expires_at } : undefined;
}

/** The audit subject of a deny-list identity: `{ jti }`, `{ sub }` or `{ kid, issuer }`. */
export function subjectOf(kind: RevocationKind, value: string, issuer?: string): Record<string, string> {
  const s: Record<string, string> = { [kind]: value };
  if (issuer !== undefined) s.issuer = issuer;
  return s;
}
