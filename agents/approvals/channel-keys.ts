import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { KeyturnError } from '../../config/errors.js';
import type { AppendAudit, AuditActor } from '../auditor/types.js';
import type { ApprovalChannel } from '../planner/policy-types.js';
import { withTransaction, type Queryable } from '../shared/db.js';
import type { ChannelKey } from './attestation.js';

/** A fresh Ed25519 attestation key; the private half goes to a 0600 file, the public half to the DB. */
export async function generateChannelKey(): Promise<{ kid: string; privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, privateJwk: { ...(await exportJWK(privateKey)), kid }, publicJwk: { ...publicJwk, kid } };
}

/** Who registers or disables a channel key: the change and its audit entry commit together. */
export interface ChannelKeyAudit {
  appendAudit: AppendAudit;
  actor: AuditActor;
  policyVersion: string;
}

export interface ChannelKeyRecord {
  kid: string;
  channel: ApprovalChannel;
  approver?: string;
  createdAt: string;
  disabledAt?: string;
}

const subjectOf = (k: { kid: string; channel: ApprovalChannel; approver?: string }) => ({ kid: k.kid, channel: k.channel, ...(k.approver ? { approver: k.approver } : {}) });

/**
 * Registers the public half of an approval channel's key, audited: a key that vouches for approvals
 * never appears unrecorded. Only the table owner's login may (CHANNEL_KEY_ADMIN_ONLY otherwise).
 */
export async function registerChannelKey(db: Queryable, key: { kid: string; channel: ApprovalChannel; approver?: string; publicJwk: JWK }, audit: ChannelKeyAudit): Promise<void> {
  if (key.channel === 'cli' && !key.approver?.startsWith('cli:')) {
    throw new KeyturnError('APPROVER_INVALID', `CLI approver ids start with "cli:" (got ${key.approver ?? 'none'})`, 'Use e.g. cli:alice, as listed in the policy.');
  }
  if ('d' in key.publicJwk) throw new KeyturnError('KEY_NOT_PUBLIC', 'refusing to store a private key as a channel key', 'Pass the public JWK only.');
  await withTransaction(db, async (tx) => {
    const res = await tx
      .query(
        `INSERT INTO approval_channel_keys (kid, channel, approver, public_jwk) VALUES ($1, $2, $3, $4)
         ON CONFLICT (kid) DO NOTHING`,
        [key.kid, key.channel, key.approver ?? null, JSON.stringify(key.publicJwk)],
      )
      .catch((e: unknown) => {
        throw (e as { code?: unknown }).code === INSUFFICIENT_PRIVILEGE ? adminOnly() : e;
      });
    if (res.rowCount === 1) {
      await audit.appendAudit(tx, { actor: audit.actor, action: 'approval.key.register', subject: subjectOf(key), policyVersion: audit.policyVersion, outcome: 'ok' });
    }
  });
}

const INSUFFICIENT_PRIVILEGE = '42501';

function adminOnly(): KeyturnError {
  return new KeyturnError(
    'CHANNEL_KEY_ADMIN_ONLY',
    "keyturn's runtime login may not register approval keys",
    'An administrator registers them with KEYTURN_DB_ADMIN_URL set (`keyturn approvers add-cli-key` / `add-slack-key`); nothing was changed.',
  );
}

/** Disables a channel key for good (a lost laptop, a departed approver): its attestations stop counting at once. */
export async function disableChannelKey(db: Queryable, kid: string, audit: ChannelKeyAudit): Promise<ChannelKeyRecord> {
  return withTransaction(db, async (tx) => {
    const res = await tx.query<KeyRow>(`UPDATE approval_channel_keys SET disabled_at = now() WHERE kid = $1 AND disabled_at IS NULL RETURNING ${KEY_COLUMNS}`, [kid]);
    const row = res.rows[0];
    if (!row) {
      throw new KeyturnError('CHANNEL_KEY_NOT_FOUND', `no enabled approval channel key ${kid}`, 'List the keys with `keyturn approvers list`; a disabled key stays disabled.');
    }
    const record = toRecord(row);
    await audit.appendAudit(tx, { actor: audit.actor, action: 'approval.key.disable', subject: subjectOf(record), policyVersion: audit.policyVersion, outcome: 'ok' });
    return record;
  });
}

/** Every channel key, enabled or not, oldest first: ids and owners only, never key material. */
export async function listChannelKeys(db: Queryable): Promise<ChannelKeyRecord[]> {
  const res = await db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM approval_channel_keys ORDER BY created_at, kid`);
  return res.rows.map(toRecord);
}

const KEY_COLUMNS = 'kid, channel, approver, created_at, disabled_at';

type KeyRow = {
  kid: string;
  channel: ApprovalChannel;
  approver: string | null;
  created_at: Date;
  disabled_at: Date | null;
};

function toRecord(r: KeyRow): ChannelKeyRecord {
  return { kid: r.kid, channel: r.channel, ...(r.approver ? { approver: r.approver } : {}), createdAt: r.created_at.toISOString(), ...(r.disabled_at ? { disabledAt: r.disabled_at.toISOString() } : {}) };
}

export function channelKeyLookup(db: Queryable): (kid: string) => Promise<ChannelKey | undefined> {
  return async (kid) => {
    const res = await db.query<{ kid: string; channel: ApprovalChannel; approver: string | null; public_jwk: JWK }>(
      // Only a key whose registration the audit log records (or one from before registrations were audited).
      `SELECT k.kid, k.channel, k.approver, k.public_jwk FROM approval_channel_keys k
        WHERE k.kid = $1 AND k.disabled_at IS NULL
          AND (k.registered_before_audit OR EXISTS (
            SELECT 1 FROM audit_log a WHERE a.action = 'approval.key.register' AND a.subject ->> 'kid' = k.kid))`,
      [kid],
    );
    const row = res.rows[0];
    return row ? { kid: row.kid, channel: row.channel, publicJwk: row.public_jwk, ...(row.approver ? { approver: row.approver } : {}) } : undefined;
  };
}
