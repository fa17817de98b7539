import { importJWK, type CryptoKey } from 'jose';
import { KeyturnError } from '../../config/errors.js';
import type { PoolClient, Pool } from '../../db/pool.js';
import { AUDIT_KEY_ALG, type AuditSigner } from './audit-key.js';
import { GENESIS_HASH } from './chain.js';
import { checkCheckpoint, CHECKPOINT_COLUMNS, walkChain, type CheckpointRow } from './chain-walk.js';

export interface AuditCheckpoint {
  id: number;
  at: string;
  seq: number;
  headHash: string;
  /** Compact JWS (EdDSA, kid = audit key) over the JSON {seq, headHash, at}. */
  jws: string;
}

export interface CheckpointOptions {
  /** Return null instead of writing when nothing was appended since the last checkpoint. */
  onlyIfAdvanced?: boolean;
}

/**
 * Signs the current head of the chain. It first verifies what it is about to vouch for: the
 * entries after the newest valid checkpoint (or the whole chain when there is none), and throws
 * AUDIT_CHAIN_BROKEN rather than sign a tampered chain. Returns null for an empty log.
 */
export async function checkpoint(pool: Pool, signer: AuditSigner, opts: CheckpointOptions = {}): Promise<AuditCheckpoint | null> {
  const key = (await importJWK(signer.publicJwk, AUDIT_KEY_ALG)) as CryptoKey;
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    const { last, walked } = await verifyTail(client, key);
    if ('ok' in walked) {
      throw new KeyturnError('AUDIT_CHAIN_BROKEN', `refusing to sign a checkpoint: ${walked.message} (seq ${walked.seq})`, 'Run `keyturn audit verify` and investigate before signing anything.', { seq: walked.seq, reason: walked.reason });
    }
    const head = walked.head;
    if (head.seq === 0 || (opts.onlyIfAdvanced && last && head.seq <= Number(last.seq))) {
      await client.query('COMMIT');
      return null;
    }
    const now = await client.query<{ at: string }>(`SELECT to_char(date_trunc('milliseconds', clock_timestamp()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at`);
    const at = now.rows[0]!.at;
    const jws = await signer.signJson({ seq: head.seq, headHash: head.hash, at });
    const ins = await client.query<{ id: string }>(
      'INSERT INTO audit_checkpoints (at, seq, head_hash, jws) VALUES ($1::timestamptz, $2, $3, $4) RETURNING id::text AS id',
      [at, head.seq, head.hash, jws],
    );
    await client.query('COMMIT');
    return { id: Number(ins.rows[0]!.id), at, seq: head.seq, headHash: head.hash, jws };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

/** How many of the newest checkpoint rows are tried for one that is ours before walking from genesis. */
const NEWEST_TRIED = 20;

/**
 * Walks from the newest checkpoint that is ours and still matches the chain; from genesis (checking
 * every checkpoint) otherwise. Rows the audit key did not sign (anyone who can insert can add one)
 * are passed over: they must not keep the checkpointer from signing, and `audit verify` reports them.
 */
async function verifyTail(client: PoolClient, key: CryptoKey) {
  const newest = await client.query<CheckpointRow>(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY audit_checkpoints.seq DESC, audit_checkpoints.id DESC LIMIT ${NEWEST_TRIED}`);
  for (const cp of newest.rows) {
    const at = await client.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = $1', [cp.seq]);
    const rowHash = at.rows[0]?.hash;
    if (rowHash !== undefined && (await checkCheckpoint(cp, rowHash, key)) === null) {
      return { last: cp, walked: await walkChain(client, { seq: Number(cp.seq), hash: cp.head_hash }, [], key) };
    }
  }
  const all = await client.query<CheckpointRow>(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY audit_checkpoints.seq, audit_checkpoints.id`);
  const walked = await walkChain(client, { seq: 0, hash: GENESIS_HASH }, all.rows, key);
  const last = all.rows.filter((cp) => !('ok' in walked) && !walked.forged.some((f) => f.checkpoint === cp)).at(-1);
  return { last, walked };
}

export interface CheckpointerOptions {
  /** Called with each failure (e.g. AUDIT_CHAIN_BROKEN); default writes one line to stderr. Never receives key material. */
  onError?: (e: unknown) => void;
  onCheckpoint?: (cp: AuditCheckpoint) => void;
}

/**
 * Checkpoints every `intervalMs` when the log has grown. One run at a time; `stop()` cancels the
 * timer and waits for a run in progress.
 */
/** How often keyturn's processes sign the head of the audit log (only when it moved). */
export const CHECKPOINT_INTERVAL_MS = 60_000;

/** Signs the head now, then every `intervalMs` while it moves. */
export function startCheckpointer(pool: Pool, signer: AuditSigner, intervalMs: number, opts: CheckpointerOptions = {}): () => Promise<void> {
  const onError = opts.onError ?? ((e: unknown) => void process.stderr.write(`audit checkpointer: ${(e as Error).message}\n`));
  let running: Promise<void> | null = null;
  let stopped = false;
  const tick = () => {
    if (running || stopped) return;
    running = checkpoint(pool, signer, { onlyIfAdvanced: true })
      .then((cp) => {
        if (cp) opts.onCheckpoint?.(cp);
      })
      .catch(onError)
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  tick();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
