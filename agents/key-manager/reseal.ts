import type { AppendAudit, AuditActor } from '../auditor/types.js';
import { isKeyturnError } from '../../config/errors.js';
import { inTransaction, type Pool } from '../../db/pool.js';
import { openPrivateKey, sealPrivateKey, type KekProvider } from './envelope.js';
import { liveKekHolders, requireHoldersCanOpen, type KekHolder } from './kek-holders.js';
import { SEALED_COLUMNS, sealedKeyOf, type SealedRow } from './store.js';

export interface Resealed {
  kid: string;
  issuer: string;
  fromKek: string;
}

/** Why a key cannot be opened (as opposed to a failure of the database or the audit log, which stops the reseal). */
const UNOPENABLE = ['KEK_MISMATCH', 'KEY_CIPHERTEXT_TAMPERED', 'KEY_BINDING_MISMATCH'] as const;

export interface ResealOutcome {
  resealed: Resealed[];
  /** Keys that could not be opened (tampered, or a KEK that does not match): left as they were. */
  failed: Array<{ kid: string; code: string }>;
  /** The live keyturn processes checked before resealing (none when there was nothing to move). */
  holders: KekHolder[];
}

/**
 * The second half of a KEK rotation: every private key sealed under one of the ring's older KEKs is
 * opened and sealed again under the active KEK, one transaction per key with its `key.resealed`
 * audit entry. Keys under KEKs this ring does not hold are left alone (and reported by the caller); a
 * key that fails to open is reported and left as it was, and the others are still resealed.
 * Safe to run again or concurrently: a key already moved is skipped under its row lock. Refused
 * (KEK_NOT_EVERYWHERE, nothing changed) while a live keyturn process opens an older KEK but not
 * the active one.
 */
export async function resealUnderActiveKek(
  deps: { pool: Pool; kek: KekProvider; appendAudit: AppendAudit },
  base: { actor: AuditActor; policyVersion: string },
): Promise<ResealOutcome> {
  const older = deps.kek.olderIds ?? [];
  const out: ResealOutcome = { resealed: [], failed: [], holders: [] };
  if (older.length === 0) return out;
  const { rows } = await deps.pool.query<{ kid: string }>('SELECT kid FROM signing_keys WHERE kek_id = ANY($1) ORDER BY created_at', [older]);
  if (rows.length === 0) return out;
  out.holders = await liveKekHolders(deps.pool);
  requireHoldersCanOpen(out.holders, deps.kek.id, older);
  for (const { kid } of rows) {
    const done = await inTransaction(deps.pool, async (c): Promise<Resealed | undefined> => {
      const row = (await c.query<SealedRow>(`SELECT ${SEALED_COLUMNS} FROM signing_keys WHERE kid = $1 FOR UPDATE`, [kid])).rows[0];
      if (!row || !older.includes(row.kek_id)) return undefined;
      // Again for each key: a process may have started on the old KEK alone since the run began.
      requireHoldersCanOpen(await liveKekHolders(c), deps.kek.id, older);
      const binding = { issuer: row.issuer, kid: row.kid };
      const der = await openPrivateKey(sealedKeyOf(row), binding, deps.kek);
      const sealed = await sealPrivateKey(der, binding, deps.kek).finally(() => der.fill(0));
      await c.query('UPDATE signing_keys SET private_ciphertext = $2, wrapped_dek = $3, nonce = $4, kek_id = $5 WHERE kid = $1', [kid, sealed.ciphertext, sealed.wrappedDek, sealed.nonce, sealed.kekId]);
      await deps.appendAudit(c, {
        actor: base.actor,
        action: 'key.resealed',
        subject: binding,
        policyVersion: base.policyVersion,
        outcome: 'ok',
        details: { fromKek: row.kek_id, toKek: sealed.kekId },
      });
      return { kid, issuer: row.issuer, fromKek: row.kek_id };
    }).catch((e: unknown) => {
      if (!isKeyturnError(e) || !(UNOPENABLE as readonly string[]).includes(e.code)) throw e;
      out.failed.push({ kid, code: e.code });
      return undefined;
    });
    if (done) out.resealed.push(done);
  }
  return out;
}

/** How many keys are sealed under each KEK id: `keys reseal` reports those no configured KEK can open. */
export async function keysByKek(pool: Pool): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ kek_id: string; n: string }>('SELECT kek_id, count(*)::text AS n FROM signing_keys GROUP BY kek_id');
  return new Map(rows.map((r) => [r.kek_id, Number(r.n)]));
}
