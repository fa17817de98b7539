import type { CryptoKey, JWK } from 'jose';
import type { Pool } from '../../db/pool.js';
import { importAuditPublicKey } from './audit-key.js';
import { GENESIS_HASH } from './chain.js';
import { CHECKPOINT_COLUMNS, walkChain, type ChainBreak, type CheckpointRow } from './chain-walk.js';

export type { ChainBreak, ChainBreakReason } from './chain-walk.js';

export interface ChainOk {
  ok: true;
  /** Entries verified. */
  entries: number;
  /** Checkpoints verified. */
  checkpoints: number;
  headSeq: number;
  headHash: string;
}

export type VerifyAuditResult = ChainOk | ChainBreak;

/**
 * Re-derives the whole chain from genesis in seq order (in batches, from one consistent snapshot)
 * and checks every checkpoint's signature against `publicKey` (null: no key, so any checkpoint is
 * reported unverifiable). Reports the first broken link, in seq order.
 */
export async function verifyAuditChain(pool: Pool, publicKey: CryptoKey | JWK | null): Promise<VerifyAuditResult> {
  const key = publicKey === null ? null : isJwk(publicKey) ? await importAuditPublicKey(publicKey) : publicKey;
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows: checkpoints } = await client.query<CheckpointRow>(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY audit_checkpoints.seq, audit_checkpoints.id`);
    const walked = await walkChain(client, { seq: 0, hash: GENESIS_HASH }, checkpoints, key);
    await client.query('COMMIT');
    if ('ok' in walked) return walked;
    return { ok: true, entries: walked.entries, checkpoints: walked.checkpoints, headSeq: walked.head.seq, headHash: walked.head.hash };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

function isJwk(k: CryptoKey | JWK): k is JWK {
  return typeof (k as JWK).kty === 'string';
}
