import type { JWK } from 'jose';
import { KeyturnError } from '../../config/errors.js';
import type { Queryable } from '../shared/db.js';
import type { SigningAlgorithm } from '../planner/policy-types.js';
import type { SealedKey } from './envelope.js';
import { publicJwkOnly } from './keygen.js';
import type { KeyRecord, KeyState } from './types.js';

/** Columns that are safe to read anywhere: no ciphertext, DEK or nonce. */
export const PUBLIC_COLUMNS = `kid, issuer, alg, state, public_jwk, policy_version, created_at, activated_at, retiring_at,
  retired_at, revoked_at, failed_at, state_reason`;

/** A key's row with its sealed private key (read only by KeyManager and the KEK reseal). */
export interface SealedRow extends Record<string, unknown> {
  kid: string;
  issuer: string;
  alg: SigningAlgorithm;
  private_ciphertext: Buffer;
  wrapped_dek: Buffer;
  nonce: Buffer;
  kek_id: string;
}

export const SEALED_COLUMNS = 'kid, issuer, alg, private_ciphertext, wrapped_dek, nonce, kek_id';

export const sealedKeyOf = (row: SealedRow): SealedKey => ({ ciphertext: row.private_ciphertext, wrappedDek: row.wrapped_dek, nonce: row.nonce, kekId: row.kek_id });

export interface KeyRow extends Record<string, unknown> {
  kid: string;
  issuer: string;
  alg: SigningAlgorithm;
  state: KeyState;
  public_jwk: JWK;
  policy_version: string;
  created_at: Date;
  activated_at: Date | null;
  retiring_at: Date | null;
  retired_at: Date | null;
  revoked_at: Date | null;
  failed_at: Date | null;
  state_reason: string | null;
}

/** The only way a row becomes a KeyRecord: public JWK members are whitelisted again on the way out. */
export function rowToRecord(r: KeyRow): KeyRecord {
  const rec: KeyRecord = {
    kid: r.kid,
    issuer: r.issuer,
    alg: r.alg,
    state: r.state,
    publicJwk: publicJwkOnly(r.public_jwk),
    policyVersion: r.policy_version,
    createdAt: r.created_at.toISOString(),
  };
  if (r.activated_at) rec.activatedAt = r.activated_at.toISOString();
  if (r.retiring_at) rec.retiringAt = r.retiring_at.toISOString();
  if (r.retired_at) rec.retiredAt = r.retired_at.toISOString();
  if (r.revoked_at) rec.revokedAt = r.revoked_at.toISOString();
  if (r.failed_at) rec.failedAt = r.failed_at.toISOString();
  if (r.state_reason !== null) rec.stateReason = r.state_reason;
  return rec;
}

export interface ListKeysFilter {
  issuer?: string;
  states?: KeyState[];
}

/** Keys by issuer and state, oldest first. Read-only: usable by the CLI without a KEK. */
export async function listKeyRecords(db: Queryable, filter: ListKeysFilter = {}): Promise<KeyRecord[]> {
  const res = await db.query<KeyRow>(
    `SELECT ${PUBLIC_COLUMNS} FROM signing_keys
      WHERE ($1::text IS NULL OR issuer = $1) AND ($2::text[] IS NULL OR state = ANY($2))
      ORDER BY issuer, created_at, kid`,
    [filter.issuer ?? null, filter.states ?? null],
  );
  return res.rows.map(rowToRecord);
}

export async function findKey(db: Queryable, kid: string, forUpdate = false): Promise<KeyRecord | undefined> {
  const res = await db.query<KeyRow>(`SELECT ${PUBLIC_COLUMNS} FROM signing_keys WHERE kid = $1${forUpdate ? ' FOR UPDATE' : ''}`, [kid]);
  return res.rows[0] ? rowToRecord(res.rows[0]) : undefined;
}

export function keyNotFound(kid: string, issuer?: string): KeyturnError {
  return new KeyturnError(
    'KEY_NOT_FOUND',
    issuer ? `no key ${kid} for issuer ${issuer}` : `no key ${kid}`,
    'List keys with `keyturn keys list`.',
    { kid },
  );
}
