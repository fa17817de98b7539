import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { KeyturnError } from '../../config/errors.js';
import type { ApprovalChannel } from '../planner/policy-types.js';
import type { Queryable } from '../shared/db.js';
import type { ChannelKey } from './attestation.js';

/** A fresh Ed25519 attestation key; the private half goes to a 0600 file, the public half to the DB. */
export async function generateChannelKey(): Promise<{ kid: string; privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, privateJwk: { ...(await exportJWK(privateKey)), kid }, publicJwk: { ...publicJwk, kid } };
}

export async function registerChannelKey(db: Queryable, key: { kid: string; channel: ApprovalChannel; approver?: string; publicJwk: JWK }): Promise<void> {
  if (key.channel === 'cli' && !key.approver?.startsWith('cli:')) {
    throw new KeyturnError('APPROVER_INVALID', `CLI approver ids start with "cli:" (got ${key.approver ?? 'none'})`, 'Use e.g. cli:alice, as listed in the policy.');
  }
  if ('d' in key.publicJwk) throw new KeyturnError('KEY_NOT_PUBLIC', 'refusing to store a private key as a channel key', 'Pass the public JWK only.');
  await db.query(
    `INSERT INTO approval_channel_keys (kid, channel, approver, public_jwk) VALUES ($1, $2, $3, $4)
     ON CONFLICT (kid) DO NOTHING`,
    [key.kid, key.channel, key.approver ?? null, JSON.stringify(key.publicJwk)],
  );
}

export function channelKeyLookup(db: Queryable): (kid: string) => Promise<ChannelKey | undefined> {
  return async (kid) => {
    const res = await db.query<{ kid: string; channel: ApprovalChannel; approver: string | null; public_jwk: JWK }>(
      'SELECT kid, channel, approver, public_jwk FROM approval_channel_keys WHERE kid = $1 AND disabled_at IS NULL',
      [kid],
    );
    const row = res.rows[0];
    return row ? { kid: row.kid, channel: row.channel, publicJwk: row.public_jwk, ...(row.approver ? { approver: row.approver } : {}) } : undefined;
  };
}
