import type { CryptoKey, JWK } from 'jose';
import type { Pool, PoolClient } from '../../db/pool.js';
import { importAuditPublicKey } from './audit-key.js';
import { GENESIS_HASH } from './chain.js';
import { CHECKPOINT_COLUMNS, walkChain, type ChainBreak, type CheckpointRow } from './chain-walk.js';

export type { ChainBreak, ChainBreakReason } from './chain-walk.js';

export interface ChainOk {
  ok: true;
  /** Entries verified. */
  entries: number;
  /** Checkpoints verified, logged copies included. */
  checkpoints: number;
  /** Of those, the logged copies given as witnesses. */
  witnessed: number;
  /** The newest logged copy, and the newest checkpoint the table holds: logs that end earlier are stale or partial. */
  newestWitness?: { seq: number; at: string };
  newestStored?: { seq: number; at: string };
  headSeq: number;
  headHash: string;
  /** The entries no signed checkpoint covers yet (after the newest one), with the time of the oldest: only the unkeyed chain vouches for them. */
  uncovered?: { fromSeq: number; count: number; oldestAt: string };
}

export type VerifyAuditResult = ChainOk | ChainBreak;

export interface VerifyOptions {
  /**
   * Checkpoints kept outside the database (the worker's log, see witness.ts), checked like the
   * table's: deleting the newest entries together with their checkpoint rows still shows against them.
   */
  witnesses?: CheckpointRow[];
}

/**
 * Re-derives the whole chain from genesis in seq order (in batches, from one consistent snapshot)
 * and checks every checkpoint's signature against `publicKey` (null: no key, so any checkpoint is
 * reported unverifiable). Reports the first broken link, in seq order.
 */
export async function verifyAuditChain(pool: Pool, publicKey: CryptoKey | JWK | null, opts: VerifyOptions = {}): Promise<VerifyAuditResult> {
  const key = publicKey === null ? null : isJwk(publicKey) ? await importAuditPublicKey(publicKey) : publicKey;
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows: stored } = await client.query<CheckpointRow>(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY audit_checkpoints.seq, audit_checkpoints.id`);
    const witnesses = opts.witnesses ?? [];
    const checkpoints = [...stored, ...witnesses].sort((a, b) => Number(a.seq) - Number(b.seq));
    const walked = await walkChain(client, { seq: 0, hash: GENESIS_HASH }, checkpoints, key);
    if ('ok' in walked) {
      await client.query('COMMIT');
      return walked;
    }
    const first = walked.forged[0];
    if (first) {
      await client.query('COMMIT');
      const cp = first.checkpoint;
      const n = walked.forged.length;
      return {
        ok: false, seq: Number(cp.seq), expectedHash: first.chainHash, foundHash: cp.head_hash, reason: 'checkpoint-invalid',
        message: `${first.message}; ${n === 1 ? 'it is the only such row' : `${n} such rows`}. Someone inserted ${n === 1 ? 'it' : 'them'} into audit_checkpoints: they vouch for nothing, and the chain itself verified through seq ${walked.head.seq}`,
        ...(cp.witness === undefined ? { checkpointId: Number(cp.id) } : {}),
      };
    }
    // Ordered by seq: the last one covers the most (a spread over a year of checkpoints would overflow the stack).
    const coveredSeq = Number(checkpoints.at(-1)?.seq ?? 0);
    const uncovered = walked.head.seq > coveredSeq ? await oldestAfter(client, coveredSeq, walked.head.seq) : undefined;
    await client.query('COMMIT');
    const newest = (rows: CheckpointRow[]) => rows.reduce<{ seq: number; at: string } | undefined>((n, cp) => (n && n.seq >= Number(cp.seq) ? n : { seq: Number(cp.seq), at: cp.at }), undefined);
    const newestWitness = newest(witnesses);
    const newestStored = newest(stored);
    return { ok: true, entries: walked.entries, checkpoints: walked.checkpoints, witnessed: witnesses.length, ...(newestWitness ? { newestWitness } : {}), ...(newestStored ? { newestStored } : {}), headSeq: walked.head.seq, headHash: walked.head.hash, ...(uncovered ? { uncovered } : {}) };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

async function oldestAfter(client: PoolClient, coveredSeq: number, headSeq: number): Promise<ChainOk['uncovered']> {
  const { rows } = await client.query<{ at: Date }>('SELECT at FROM audit_log WHERE seq = $1', [coveredSeq + 1]);
  return { fromSeq: coveredSeq + 1, count: headSeq - coveredSeq, oldestAt: (rows[0]?.at ?? new Date(0)).toISOString() };
}

function isJwk(k: CryptoKey | JWK): k is JWK {
  return typeof (k as JWK).kty === 'string';
}
