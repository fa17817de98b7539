import { compactVerify, type CryptoKey } from 'jose';
import type { Queryable } from '../shared/db.js';
import { entryHash } from './chain.js';
import { ENTRY_COLUMNS, rowToEntry, type AuditRow } from './rows.js';

export type ChainBreakReason = 'hash-mismatch' | 'prev-hash-mismatch' | 'gap' | 'checkpoint-invalid';

/** The first broken link. For a checkpoint, expected is the chain's hash at `seq` ('' when the chain has no such entry). */
export interface ChainBreak {
  ok: false;
  seq: number;
  expectedHash: string;
  foundHash: string;
  reason: ChainBreakReason;
  /** One sentence for people. */
  message: string;
  /** The offending checkpoint, for `checkpoint-invalid`. */
  checkpointId?: number;
}

export interface ChainPosition {
  seq: number;
  hash: string;
}

export interface CheckpointRow extends Record<string, unknown> {
  id: string;
  at: string;
  seq: string;
  head_hash: string;
  jws: string;
  /** Where a copy kept outside the database was read (`worker.log:42`); absent for a row of audit_checkpoints. */
  witness?: string;
}

/** How a message names a checkpoint: its row id, or where its logged copy was read. */
function nameOf(cp: CheckpointRow): string {
  return cp.witness === undefined ? `checkpoint ${cp.id}` : `the checkpoint logged at ${cp.witness}`;
}

/** A logged copy has no row id to report. */
function idOf(cp: CheckpointRow): number | undefined {
  return cp.witness === undefined ? Number(cp.id) : undefined;
}

export const CHECKPOINT_COLUMNS = `id::text AS id, seq::text AS seq, head_hash, jws,
  to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at`;

const BATCH = 1000;

export interface WalkedChain {
  head: ChainPosition;
  entries: number;
  /** Checkpoints verified. */
  checkpoints: number;
  /**
   * Rows that no signature by the audit key covers: whoever can insert into audit_checkpoints can
   * add one, so they vouch for nothing and stop nothing; the walk goes on past them, and the caller
   * reports them (after any break of the chain itself, which matters more).
   */
  forged: Array<{ checkpoint: CheckpointRow; message: string; chainHash: string }>;
}

/**
 * Walks entries after `start` in seq order, batch by batch, checking each link and every checkpoint
 * whose seq it passes. Run it inside one REPEATABLE READ transaction for a consistent snapshot.
 */
export async function walkChain(
  db: Queryable,
  start: ChainPosition,
  checkpoints: CheckpointRow[],
  key: CryptoKey | null,
): Promise<WalkedChain | ChainBreak> {
  const pending = new Map<number, CheckpointRow[]>();
  for (const cp of checkpoints) {
    const s = Number(cp.seq);
    pending.set(s, [...(pending.get(s) ?? []), cp]);
  }
  let prev = start;
  let entries = 0;
  let checked = 0;
  const forged: WalkedChain['forged'] = [];
  /** A checkpoint's verdict: null when it holds, a break when it is ours and contradicts the chain; forged ones are set aside. */
  const judge = async (cp: CheckpointRow, chainHash: string): Promise<ChainBreak | null | 'forged'> => {
    const unsigned = await checkSignature(cp, chainHash, key);
    if (unsigned && key !== null) {
      forged.push({ checkpoint: cp, message: unsigned.message, chainHash });
      return 'forged';
    }
    return unsigned ?? checkCheckpoint(cp, chainHash, key);
  };
  for (;;) {
    const { rows } = await db.query<AuditRow>(`SELECT ${ENTRY_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY audit_log.seq LIMIT ${BATCH}`, [prev.seq]);
    for (const row of rows) {
      const e = rowToEntry(row);
      if (e.seq !== prev.seq + 1) {
        return brk(e.seq, prev.hash, e.prevHash, 'gap', `entries ${prev.seq + 1}..${e.seq - 1} are missing: seq ${e.seq} follows seq ${prev.seq}`);
      }
      if (e.prevHash !== prev.hash) {
        return brk(e.seq, prev.hash, e.prevHash, 'prev-hash-mismatch', `entry ${e.seq} does not point at entry ${prev.seq}'s hash: entry ${prev.seq} was replaced or removed`);
      }
      const recomputed = entryHash(e);
      if (recomputed !== e.hash) {
        return brk(e.seq, recomputed, e.hash, 'hash-mismatch', `entry ${e.seq}'s content does not match its hash: it was altered`);
      }
      prev = { seq: e.seq, hash: e.hash };
      entries++;
      for (const cp of pending.get(e.seq) ?? []) {
        const verdict = await judge(cp, e.hash);
        if (verdict === 'forged') continue;
        if (verdict) return verdict;
        checked++;
      }
      pending.delete(e.seq);
    }
    if (rows.length < BATCH) break;
  }
  for (const cps of pending.values()) {
    for (const cp of cps) {
      if (Number(cp.seq) <= start.seq) continue; // before the walk's start: not this walk's business
      // A checkpoint that is not the audit key's says nothing about where the chain should end.
      const verdict = await judge(cp, '');
      if (verdict === 'forged') continue;
      if (verdict && key === null) return verdict;
      return brk(Number(cp.seq), '', cp.head_hash, 'checkpoint-invalid', `${nameOf(cp)} vouches for seq ${cp.seq}, but the chain ends at seq ${prev.seq}: entries were removed from the end`, idOf(cp));
    }
  }
  return { head: prev, entries, checkpoints: checked, forged };
}

/** Signature by the audit key (null: none available, so unverifiable), payload equal to the row, head_hash equal to the chain's hash at that seq. */
export async function checkCheckpoint(cp: CheckpointRow, chainHash: string, key: CryptoKey | null): Promise<ChainBreak | null> {
  const unsigned = await checkSignature(cp, chainHash, key);
  if (unsigned) return unsigned;
  if (cp.head_hash !== chainHash) {
    return brk(Number(cp.seq), chainHash, cp.head_hash, 'checkpoint-invalid', `${nameOf(cp)} signed a different head hash for seq ${cp.seq} than the chain has now`, idOf(cp));
  }
  return null;
}

/** Signature by the audit key over exactly this row's seq, head hash and time. */
async function checkSignature(cp: CheckpointRow, chainHash: string, key: CryptoKey | null): Promise<ChainBreak | null> {
  const seq = Number(cp.seq);
  const id = idOf(cp);
  const name = nameOf(cp);
  if (key === null) {
    return brk(seq, chainHash, cp.head_hash, 'checkpoint-invalid', `${name} at seq ${seq} cannot be verified: no audit public key was given`, id);
  }
  let payload: unknown;
  try {
    const verified = await compactVerify(cp.jws, key, { algorithms: ['EdDSA'] });
    payload = JSON.parse(new TextDecoder().decode(verified.payload));
  } catch {
    return brk(seq, chainHash, cp.head_hash, 'checkpoint-invalid', `${name} at seq ${seq} is not signed by the audit key`, id);
  }
  const p = payload as { seq?: unknown; headHash?: unknown; at?: unknown };
  if (p.seq !== seq || p.headHash !== cp.head_hash || p.at !== cp.at) {
    return brk(seq, chainHash, cp.head_hash, 'checkpoint-invalid', `${name} differs from what its signature covers`, id);
  }
  return null;
}

function brk(seq: number, expectedHash: string, foundHash: string, reason: ChainBreakReason, message: string, checkpointId?: number | undefined): ChainBreak {
  return checkpointId === undefined ? { ok: false, seq, expectedHash, foundHash, reason, message } : { ok: false, seq, expectedHash, foundHash, reason, message, checkpointId };
}
