import { KeyturnError } from '../../config/errors.js';
import type { Queryable } from '../shared/db.js';

export { RevocationCache, pgListener, type RevocationCacheOptions, type ListenerClient } from './revocation-cache.js';
export { MemorySingleUseStore, PgSingleUseStore } from './single-use.js';

/** The channel every revocation change is announced on; the payload is {@link RevocationNotice} JSON. */
export const REVOCATION_CHANNEL = 'keyturn_revocations';

export type RevocationKind = 'jti' | 'kid' | 'sub';
export const REVOCATION_KINDS: readonly RevocationKind[] = ['jti', 'kid', 'sub'];

export interface RevocationNotice {
  op: 'upsert' | 'delete';
  id: string;
  kind: RevocationKind;
  value: string;
}

export interface RevokeInput {
  kind: RevocationKind;
  value: string;
  /** kind 'sub' only: revoke the subject's tokens issued before this instant (default: all of them). */
  before?: Date;
  /** When every token the entry can match has expired; the entry is ignored after it. */
  expiresAt: Date;
  /** A suspension that may be lifted; permanent (false) by default. */
  temporary?: boolean;
  reason: string;
}

export interface RevocationRow {
  id: string;
  kind: RevocationKind;
  value: string;
  temporary: boolean;
}

// Each writer is ONE statement (a CTE): the change and its pg_notify commit or roll back together,
// whether `db` is a pool or a client inside the caller's transaction.
const notify = (alias: string, op: RevocationNotice['op']) =>
  `pg_notify('${REVOCATION_CHANNEL}', json_build_object('op', '${op}', 'id', ${alias}.id::text, 'kind', ${alias}.kind, 'value', ${alias}.value)::text)`;

/**
 * Adds a revocation (idempotent per kind/value/before: a repeat keeps the later expiry, and a
 * permanent revocation is never downgraded to temporary) and notifies validators.
 */
export async function revoke(db: Queryable, r: RevokeInput): Promise<RevocationRow> {
  if (!REVOCATION_KINDS.includes(r.kind)) throw new KeyturnError('REVOCATION_INVALID', `unknown revocation kind ${String(r.kind)}`);
  if (r.before !== undefined && r.kind !== 'sub') throw new KeyturnError('REVOCATION_INVALID', '`before` applies to sub revocations only');
  const { rows } = await db.query<{ id: string; kind: RevocationKind; value: string; temporary: boolean }>(
    `WITH r AS (
       INSERT INTO revocations (kind, value, not_before, expires_at, temporary, reason)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (kind, value, (COALESCE(not_before, '-infinity'::timestamptz)))
       DO UPDATE SET expires_at = GREATEST(revocations.expires_at, EXCLUDED.expires_at),
                     temporary = revocations.temporary AND EXCLUDED.temporary
       RETURNING id, kind, value, temporary)
     SELECT r.id::text AS id, r.kind, r.value, r.temporary, ${notify('r', 'upsert')} FROM r`,
    [r.kind, r.value, r.before ?? null, r.expiresAt, r.temporary ?? false, r.reason],
  );
  const row = rows[0]!;
  return { id: row.id, kind: row.kind, value: row.value, temporary: row.temporary };
}

/**
 * Moves a TEMPORARY entry's expiry later (never earlier) and notifies validators, which re-read it.
 * The expiry it has afterwards, or undefined when there is no such temporary entry.
 */
export async function extendTemporaryRevocation(db: Queryable, id: string, expiresAt: Date): Promise<Date | undefined> {
  checkId(id);
  const { rows } = await db.query<{ expires_at: Date }>(
    `WITH u AS (UPDATE revocations SET expires_at = GREATEST(expires_at, $2) WHERE id = $1 AND temporary RETURNING id, kind, value, expires_at)
     SELECT u.expires_at, ${notify('u', 'upsert')} FROM u`,
    [id, expiresAt],
  );
  return rows[0]?.expires_at;
}

function checkId(id: string): void {
  if (typeof id !== 'string' || !/^[1-9][0-9]{0,18}$/.test(id)) throw new KeyturnError('REVOCATION_NOT_FOUND', 'revocation ids are positive integers');
}

/** Removes a TEMPORARY revocation and notifies validators. A permanent one cannot be lifted. */
export async function liftRevocation(db: Queryable, id: string): Promise<void> {
  checkId(id);
  // The scalar sub-select sees the table as it was before the DELETE: null = no such entry.
  const { rows } = await db.query<{ deleted: number; temporary: boolean | null }>(
    `WITH d AS (DELETE FROM revocations WHERE id = $1 AND temporary RETURNING id, kind, value),
          n AS (SELECT ${notify('d', 'delete')} FROM d)
     SELECT (SELECT count(*) FROM n)::int AS deleted, (SELECT temporary FROM revocations WHERE id = $1) AS temporary`,
    [id],
  );
  const row = rows[0]!;
  if (row.deleted > 0) return;
  if (row.temporary === false) throw new KeyturnError('REVOCATION_PERMANENT', `revocation ${id} is permanent and cannot be lifted`);
  throw new KeyturnError('REVOCATION_NOT_FOUND', `no revocation ${id}`, 'It may have expired or been lifted already.');
}

/** Turns a temporary revocation (a suspension) into a permanent one and notifies validators. */
export async function makePermanent(db: Queryable, id: string): Promise<void> {
  checkId(id);
  const { rowCount } = await db.query(
    `WITH u AS (UPDATE revocations SET temporary = false WHERE id = $1 RETURNING id, kind, value)
     SELECT ${notify('u', 'upsert')} FROM u`,
    [id],
  );
  if (!rowCount) throw new KeyturnError('REVOCATION_NOT_FOUND', `no revocation ${id}`, 'It may have expired or been lifted already.');
}

/**
 * Deletes up to `batch` entries that can no longer match any valid token, skipping rows another
 * transaction holds. No notice: readers already ignore them, and the audit log keeps every revocation.
 */
export async function purgeExpiredRevocations(db: Queryable, now: Date, batch = 1000): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM revocations WHERE id IN (
       SELECT id FROM revocations WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
    [now, batch],
  );
  return rowCount ?? 0;
}
