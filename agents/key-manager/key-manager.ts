import type { KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { isKeyturnError, KeyturnError } from '../../config/errors.js';
import { inTransaction, type Pool, type PoolClient } from '../../db/pool.js';
import type { AppendAudit, AuditActor } from '../auditor/types.js';
import type { SigningAlgorithm } from '../planner/policy-types.js';
import type { Clock } from '../shared/clock.js';
import type { Queryable } from '../shared/db.js';
import { sealPrivateKey, type KekProvider } from './envelope.js';
import { generateSigningKey, SIGNING_ALGORITHMS } from './keygen.js';
import { Publication, type WithheldKey } from './publication.js';
import { assertRequestId, claimRequest, fingerprint, priorResult, recordResult } from './requests.js';
import { joseSignOffThread } from './signer.js';
import { findKey, keyNotFound, listKeyRecords, PUBLIC_COLUMNS, rowToRecord, SEALED_COLUMNS, type KeyRow, type ListKeysFilter, type SealedRow } from './store.js';
import { assertTransition } from './transitions.js';
import { unsealSigningKey } from './unseal.js';
import type { KeyRecord, KeyState, SigningHandle } from './types.js';

export interface KeyManagerDeps {
  pool: Pool;
  kek: KekProvider;
  appendAudit: AppendAudit;
  clock: Clock;
  /** Told of each stored key left out of the JWKS because this process cannot open it (once per key and KEK). */
  onWithheld?: (key: WithheldKey) => void;
}

/** Every state change carries these: the idempotency key, the policy it acts under, and who acts. */
export interface KeyOpBase {
  /** Idempotency key (1–160 chars): a replay returns the first result and changes nothing. */
  requestId: string;
  policyVersion: string;
  actor: AuditActor;
}

export interface GenerateKeyRequest extends KeyOpBase {
  issuer: string;
  alg: SigningAlgorithm;
  /** RS256/PS256 only; at least 2048 (default 2048). */
  rsaModulusLength?: number;
}

export interface ActivateRequest extends KeyOpBase {
  issuer: string;
  kid: string;
  /** What happens to the key that was active: `retiring` (default, still published) or `revoked` (emergency). */
  previousTo?: 'retiring' | 'revoked';
  /** Recorded as the previous key's state_reason when it is revoked. */
  reason?: string;
  /**
   * Activate only if this is the issuer's active key now (an emergency replacement names the
   * compromised key): otherwise KEY_ACTIVE_CHANGED and nothing changes, so a key that became active
   * meanwhile is never the one retired or revoked in its place.
   */
  expectedPreviousKid?: string;
}

export interface RestorePreviousRequest extends KeyOpBase {
  issuer: string;
  previousKid: string;
  failedKid: string;
  reason: string;
}

export interface KidRequest extends KeyOpBase {
  kid: string;
}

export interface ReasonedKidRequest extends KidRequest {
  reason: string;
}

export interface ActivateResult {
  active: KeyRecord;
  previous?: KeyRecord;
}

export interface RestoreResult {
  active: KeyRecord;
  failed: KeyRecord;
}

type Op = 'generate' | 'activate' | 'restore' | 'retire' | 'revoke' | 'fail';

interface Outcome<T> {
  value: T;
  kid: string;
  subject: Record<string, string>;
  details?: Record<string, unknown>;
  /** The audit action when it is not `key.<op>` (a request that found nothing to change). */
  action?: string;
}

const REFUSALS = new Set(['KEY_TRANSITION_FORBIDDEN', 'KEY_NOT_FOUND', 'KEY_ACTIVE_CONFLICT', 'KEY_ACTIVE_CHANGED', 'KEY_DENY_LISTED', 'REQUEST_ID_CONFLICT', 'KEY_PARAMS_INVALID']);

/** Serialises every state change of one issuer's keys (taken before any row lock: no deadlocks). */
async function lockIssuer(db: Queryable, issuer: string): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtextextended('keyturn.signing_keys:' || $1, 0))`, [issuer]);
}

async function setState(db: Queryable, kid: string, to: KeyState, at: Date, reason?: string): Promise<KeyRecord> {
  const res = await db.query<KeyRow>(
    `UPDATE signing_keys SET
        state        = $2::text,
        activated_at = CASE WHEN $2::text = 'active' THEN COALESCE(activated_at, $3::timestamptz) ELSE activated_at END,
        retiring_at  = CASE WHEN $2::text = 'retiring' THEN $3::timestamptz WHEN $2::text = 'active' THEN NULL ELSE retiring_at END,
        retired_at   = CASE WHEN $2::text = 'retired' THEN $3::timestamptz ELSE retired_at END,
        revoked_at   = CASE WHEN $2::text = 'revoked' THEN $3::timestamptz ELSE revoked_at END,
        failed_at    = CASE WHEN $2::text = 'failed' THEN $3::timestamptz ELSE failed_at END,
        state_reason = COALESCE($4::text, state_reason)
      WHERE kid = $1 RETURNING ${PUBLIC_COLUMNS}`,
    [kid, to, at, reason ?? null],
  );
  return rowToRecord(res.rows[0]!);
}

/**
 * Refuses (KEY_DENY_LISTED) to make `kid` active while a kid entry of the deny-list still matches it:
 * a key contained as compromised (temporary entry) or revoked for good (permanent) never signs again.
 * The caller holds the key's row lock: a containment share-locks that row before it writes its entry,
 * so the entry is either seen here or written only once this transaction has ended.
 */
async function assertNotDenyListed(db: Queryable, kid: string, now: Date): Promise<void> {
  const res = await db.query<{ temporary: boolean }>(
    `SELECT temporary FROM revocations WHERE kind = 'kid' AND value = $1 AND expires_at > $2 ORDER BY temporary LIMIT 1`,
    [kid, now],
  );
  const entry = res.rows[0];
  if (!entry) return;
  throw new KeyturnError(
    'KEY_DENY_LISTED',
    `key ${kid} is on the deny-list (${entry.temporary ? 'contained by a revocation awaiting sign-off' : 'revoked'}) and cannot be made active`,
    'Nothing was changed. Keep another key active (or pause issuance) until the revocation is decided; a rejected revocation lifts the entry.',
    { kid, temporary: entry.temporary },
  );
}

function activeChanged(issuer: string, expected: string, actual: string | undefined): KeyturnError {
  return new KeyturnError(
    'KEY_ACTIVE_CHANGED',
    `the active key of ${issuer} is ${actual ?? 'none'}, not ${expected}`,
    `Nothing was changed. Re-read the keys: ${expected} is no longer the active key, so it is not replaced (revoke it directly if it must go).`,
    { issuer, expectedPreviousKid: expected, activeKid: actual ?? null },
  );
}

function keyNotActive(kid: string): KeyturnError {
  return new KeyturnError('KEY_NOT_ACTIVE', `key ${kid} is no longer active`, 'Fetch a new signing handle.', { kid });
}

/** Database errors leave as KeyturnErrors without pg's `detail` (which can quote whole rows). */
function translate(e: unknown): unknown {
  if (isKeyturnError(e)) return e;
  const pgErr = e as { code?: unknown; constraint?: unknown; message?: unknown };
  if (typeof pgErr.code === 'string' && /^[0-9A-Z]{5}$/.test(pgErr.code)) {
    if (pgErr.code === '23505' && pgErr.constraint === 'signing_keys_one_active_per_issuer') {
      return new KeyturnError('KEY_ACTIVE_CONFLICT', 'another key became active for this issuer at the same time', 'Re-read the keys and retry if still needed.');
    }
    return new KeyturnError('KEY_STORE_FAILED', `the database refused the key operation (${pgErr.code}: ${String(pgErr.message)})`, 'Check the database and retry.');
  }
  return e;
}

function requireText(value: unknown, field: string, max = 2048): string {
  if (typeof value !== 'string' || value.length < 1 || value.length > max) {
    throw new KeyturnError('KEY_PARAMS_INVALID', `${field} must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

/**
 * The only holder of private keys. Generates and stores them envelope-encrypted, moves them through
 * their life (each change one transaction with its audit entry, idempotent by request id) and signs
 * with the active one through a SigningHandle. Nothing it returns carries private material.
 */
export class KeyManager {
  readonly #pool: Pool;
  readonly #kek: KekProvider;
  readonly #appendAudit: AppendAudit;
  readonly #clock: Clock;
  /** Decrypted private keys of active keys, by kid; evicted when a key is seen to leave `active`. */
  readonly #privateKeys = new Map<string, { issuer: string; key: KeyObject }>();
  /** Per issuer, how many times a key was moved out of `active` by this instance: a handle read before a move is not cached after it. */
  readonly #evictions = new Map<string, number>();
  readonly #publication: Publication;
  #changes = 0;

  constructor(deps: KeyManagerDeps) {
    this.#pool = deps.pool;
    this.#kek = deps.kek;
    this.#appendAudit = deps.appendAudit;
    this.#clock = deps.clock;
    this.#publication = new Publication(deps.kek, deps.onWithheld);
  }

  /** Increases after every state change committed through this instance (JWKS caches watch it). */
  get changeCount(): number {
    return this.#changes;
  }

  async generateKey(req: GenerateKeyRequest): Promise<KeyRecord> {
    const issuer = requireText(req.issuer, 'issuer');
    if (!SIGNING_ALGORITHMS.includes(req.alg)) {
      throw new KeyturnError('KEY_PARAMS_INVALID', `unsupported signing algorithm ${String(req.alg)}`, `Use one of ${SIGNING_ALGORITHMS.join(', ')}.`);
    }
    const rsa = req.alg === 'RS256' || req.alg === 'PS256';
    const params = { issuer, alg: req.alg, rsaModulusLength: rsa ? (req.rsaModulusLength ?? 2048) : null };
    assertRequestId(req.requestId);
    // A replay is answered before spending time on key generation.
    const prior = await priorResult<KeyRecord>(this.#pool, req.requestId, 'generate', fingerprint('generate', params)).catch((e) => {
      throw translate(e);
    });
    if (prior) return prior.replay;

    const key = await generateSigningKey(req.alg, rsa ? params.rsaModulusLength! : undefined);
    const der = key.privateKey.export({ format: 'der', type: 'pkcs8' });
    const sealed = await sealPrivateKey(der, { issuer, kid: key.kid }, this.#kek).finally(() => der.fill(0));

    const generated = await this.#transact<KeyRecord>('generate', req, params, async (c, now) => {
      const res = await c.query<KeyRow>(
        `INSERT INTO signing_keys (kid, issuer, alg, state, public_jwk, private_ciphertext, wrapped_dek, nonce, kek_id, policy_version, created_at)
         VALUES ($1, $2, $3, 'pending', $4::jsonb, $5, $6, $7, $8, $9, $10)
         RETURNING ${PUBLIC_COLUMNS}`,
        [key.kid, issuer, req.alg, JSON.stringify(key.publicJwk), sealed.ciphertext, sealed.wrappedDek, sealed.nonce, sealed.kekId, req.policyVersion, now],
      );
      return { value: rowToRecord(res.rows[0]!), kid: key.kid, subject: { kid: key.kid, issuer }, details: { alg: req.alg, state: 'pending' } };
    });
    if (generated.kid === key.kid) this.#publication.vouch(key.kid, issuer, req.alg, key.publicJwk);
    return generated;
  }

  async activate(req: ActivateRequest): Promise<ActivateResult> {
    const previousTo = req.previousTo ?? 'retiring';
    if (previousTo !== 'retiring' && previousTo !== 'revoked') throw new KeyturnError('KEY_PARAMS_INVALID', `previousTo must be retiring or revoked`);
    const expected = req.expectedPreviousKid === undefined ? undefined : requireText(req.expectedPreviousKid, 'expectedPreviousKid');
    // Without an expected key the fingerprint is the one requests had before the option existed.
    const params = { issuer: req.issuer, kid: req.kid, previousTo, ...(expected !== undefined ? { expectedPreviousKid: expected } : {}) };
    const result = await this.#transact<ActivateResult>('activate', req, params, async (c, now) => {
      await lockIssuer(c, req.issuer);
      const target = await findKey(c, req.kid, true);
      if (!target || target.issuer !== req.issuer) throw keyNotFound(req.kid, req.issuer);
      assertTransition(req.kid, target.state, 'active');
      await assertNotDenyListed(c, req.kid, now);
      const current = await c.query<{ kid: string }>(`SELECT kid FROM signing_keys WHERE issuer = $1 AND state = 'active' FOR UPDATE`, [req.issuer]);
      if (expected !== undefined && (current.rows.length !== 1 || current.rows[0]!.kid !== expected)) throw activeChanged(req.issuer, expected, current.rows[0]?.kid);
      let previous: KeyRecord | undefined;
      for (const { kid } of current.rows) {
        assertTransition(kid, 'active', previousTo);
        previous = await setState(c, kid, previousTo, now, previousTo === 'revoked' ? (req.reason ?? `superseded by ${req.kid}`) : undefined);
        this.#evict(req.issuer, kid);
      }
      const active = await setState(c, req.kid, 'active', now);
      const value: ActivateResult = previous ? { active, previous } : { active };
      const details: Record<string, unknown> = { from: target.state, previousTo };
      if (previous) details.previousKid = previous.kid;
      if (expected !== undefined) details.expectedPreviousKid = expected;
      return { value, kid: req.kid, subject: { kid: req.kid, issuer: req.issuer }, details };
    });
    // Again once committed: a handle read while the transaction was open saw the old key active.
    if (result.previous) this.#evict(req.issuer, result.previous.kid);
    return result;
  }

  /**
   * Compensation for a failed rotation: `failedKid` (active or pending) → failed, `previousKid`
   * (retiring) → active. Refused (KEY_DENY_LISTED, nothing changed) while `previousKid` is on the
   * deny-list: a key contained as compromised is not put back to sign.
   */
  async restorePrevious(req: RestorePreviousRequest): Promise<RestoreResult> {
    const params = { issuer: req.issuer, previousKid: req.previousKid, failedKid: req.failedKid };
    const restored = await this.#transact<RestoreResult>('restore', req, params, async (c, now) => {
      if (req.previousKid === req.failedKid) throw new KeyturnError('KEY_PARAMS_INVALID', 'previousKid and failedKid must differ');
      await lockIssuer(c, req.issuer);
      const [first, second] = [req.previousKid, req.failedKid].sort();
      const locked = new Map<string, KeyRecord | undefined>([
        [first!, await findKey(c, first!, true)],
        [second!, await findKey(c, second!, true)],
      ]);
      const prev = locked.get(req.previousKid);
      const bad = locked.get(req.failedKid);
      if (!prev || prev.issuer !== req.issuer) throw keyNotFound(req.previousKid, req.issuer);
      if (!bad || bad.issuer !== req.issuer) throw keyNotFound(req.failedKid, req.issuer);
      assertTransition(req.failedKid, bad.state, 'failed');
      if (prev.state !== 'retiring' && prev.state !== 'active') {
        throw new KeyturnError('KEY_TRANSITION_FORBIDDEN', `key ${req.previousKid} cannot be restored from ${prev.state} to active`, 'Only a retiring key can be restored.', {
          kid: req.previousKid,
          from: prev.state,
          to: 'active',
        });
      }
      if (prev.state !== 'active') await assertNotDenyListed(c, req.previousKid, now);
      const failed = await setState(c, req.failedKid, 'failed', now, req.reason);
      this.#evict(req.issuer, req.failedKid);
      const active = prev.state === 'active' ? prev : await setState(c, req.previousKid, 'active', now);
      return {
        value: { active, failed },
        kid: req.previousKid,
        subject: { kid: req.previousKid, issuer: req.issuer },
        details: { failedKid: req.failedKid, failedFrom: bad.state, previousFrom: prev.state, reason: req.reason },
      };
    });
    this.#evict(req.issuer, req.failedKid);
    return restored;
  }

  /**
   * retiring → retired: no longer published. A key already revoked left the JWKS with its
   * revocation: there is nothing to retire, so it is returned as it is (still `revoked`), and the
   * audit entry says so (`key.retire_skipped`), never that it was retired.
   */
  retire(req: KidRequest): Promise<KeyRecord> {
    return this.#transitionByKid('retire', req, 'retired', undefined, 'revoked');
  }

  /** pending/active/retiring/retired → revoked. */
  revoke(req: ReasonedKidRequest): Promise<KeyRecord> {
    return this.#transitionByKid('revoke', req, 'revoked', requireText(req.reason, 'reason'));
  }

  /** pending/active → failed. */
  markFailed(req: ReasonedKidRequest): Promise<KeyRecord> {
    return this.#transitionByKid('fail', req, 'failed', requireText(req.reason, 'reason'));
  }

  listKeys(filter: ListKeysFilter = {}): Promise<KeyRecord[]> {
    return listKeyRecords(this.#pool, filter);
  }

  /** The key, or KEY_NOT_FOUND. */
  async getKey(kid: string): Promise<KeyRecord> {
    const key = await findKey(this.#pool, kid);
    if (!key) throw keyNotFound(kid);
    return key;
  }

  /** The issuer's active key, or undefined when it has none. */
  async activeKey(issuer: string): Promise<KeyRecord | undefined> {
    const [key] = await listKeyRecords(this.#pool, { issuer, states: ['active'] });
    return key;
  }

  /**
   * Published keys (pending, active, retiring), public members only; all issuers when none is given.
   * Only keys this process can open are published, as the public half of their private key.
   */
  jwks(issuer?: string): Promise<{ keys: JWK[] }> {
    return this.#publication.jwks(this.#pool, issuer);
  }

  /**
   * A handle that signs with the issuer's active key. Fetch one per signing operation: a handle
   * stops working once this instance moves its key out of `active`.
   */
  async signingHandle(issuer: string): Promise<SigningHandle> {
    // A read that raced a key leaving `active` (its transaction still open, or committing meanwhile) is read again.
    for (let attempt = 1; ; attempt++) {
      const evictions = this.#evictions.get(issuer) ?? 0;
      const res = await this.#pool.query<SealedRow>(
        `SELECT ${SEALED_COLUMNS} FROM signing_keys WHERE issuer = $1 AND state = 'active'`,
        [issuer],
      );
      const row = res.rows[0];
      if (!row) throw new KeyturnError('NO_ACTIVE_KEY', `issuer ${issuer} has no active signing key`, 'Generate and activate one (a rotation does both).', { issuer });
      // Whatever this instance cached for the issuer under another kid is no longer active: drop it.
      for (const [kid, cached] of this.#privateKeys) if (cached.issuer === issuer && kid !== row.kid) this.#privateKeys.delete(kid);
      let entry = this.#privateKeys.get(row.kid);
      if (!entry) {
        entry = { issuer, key: await this.#unseal(row) };
        if ((this.#evictions.get(issuer) ?? 0) !== evictions) {
          if (attempt < 3) continue;
          throw keyNotActive(row.kid);
        }
        this.#privateKeys.set(row.kid, entry);
      }
      return this.#handle(row, entry);
    }
  }

  #handle(row: SealedRow, entry: { issuer: string; key: KeyObject }): SigningHandle {
    const issuer = entry.issuer;
    const cache = this.#privateKeys;
    const { kid, alg } = row;
    const live = entry;
    return Object.freeze({
      kid,
      alg,
      issuer,
      sign: async (input: Uint8Array): Promise<Uint8Array> => {
        if (cache.get(kid) !== live) throw keyNotActive(kid);
        const signature = await joseSignOffThread(alg, live.key, input);
        // An RSA signature finishes on the thread pool, after other work may have retired the key.
        if (cache.get(kid) !== live) throw keyNotActive(kid);
        return signature;
      },
    });
  }

  #unseal(row: SealedRow): Promise<KeyObject> {
    return unsealSigningKey(row, this.#kek);
  }

  /** `settled`: a key already in that state needs no change; it is returned unchanged, recorded as `key.<op>_skipped`. */
  async #transitionByKid(op: Op, req: KidRequest, to: KeyState, reason?: string, settled?: KeyState): Promise<KeyRecord> {
    const rec = await this.#transact<KeyRecord>(op, req, { kid: req.kid }, async (c, now) => {
      const found = await c.query<{ issuer: string }>('SELECT issuer FROM signing_keys WHERE kid = $1', [req.kid]);
      if (!found.rows[0]) throw keyNotFound(req.kid);
      const { issuer } = found.rows[0];
      await lockIssuer(c, issuer);
      const key = (await findKey(c, req.kid, true))!;
      if (settled !== undefined && key.state === settled) {
        return { value: key, kid: req.kid, subject: { kid: req.kid, issuer }, action: `key.${op}_skipped`, details: { state: key.state, unchanged: true } };
      }
      assertTransition(req.kid, key.state, to);
      const moved = await setState(c, req.kid, to, now, reason);
      this.#evict(issuer, req.kid);
      const details: Record<string, unknown> = { from: key.state, to };
      if (reason !== undefined) details.reason = reason;
      return { value: moved, kid: req.kid, subject: { kid: req.kid, issuer }, details };
    });
    this.#evict(rec.issuer, req.kid);
    return rec;
  }

  #evict(issuer: string, kid: string): void {
    this.#privateKeys.delete(kid);
    this.#evictions.set(issuer, (this.#evictions.get(issuer) ?? 0) + 1);
  }

  /**
   * One transaction: claim the request id (or replay its first result), do the work, append the
   * audit entry, record the result. A refusal is audited separately (the transaction rolled back).
   */
  async #transact<T>(op: Op, base: KeyOpBase, params: Record<string, unknown>, work: (c: PoolClient, now: Date) => Promise<Outcome<T>>): Promise<T> {
    assertRequestId(base.requestId);
    const fp = fingerprint(op, params);
    const now = this.#clock.now();
    try {
      const { value, fresh } = await inTransaction(this.#pool, async (c) => {
        const prior = await claimRequest<T>(c, base.requestId, op, fp, now);
        if (prior) return { value: prior.replay, fresh: false };
        const out = await work(c, now);
        await this.#appendAudit(c, {
          actor: base.actor,
          action: out.action ?? `key.${op}`,
          subject: out.subject,
          policyVersion: base.policyVersion,
          outcome: 'ok',
          details: out.details ?? {},
          requestId: `key.${op}:${base.requestId}`,
        });
        await recordResult(c, base.requestId, out.kid, fp, out.value);
        return { value: out.value, fresh: true };
      });
      if (fresh) this.#changes++;
      return value;
    } catch (e) {
      const err = translate(e);
      if (isKeyturnError(err) && REFUSALS.has(err.code)) await this.#auditRefusal(op, base, params, err);
      throw err;
    }
  }

  async #auditRefusal(op: Op, base: KeyOpBase, params: Record<string, unknown>, err: KeyturnError): Promise<void> {
    const subject: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) if (typeof v === 'string' && (k === 'kid' || k === 'issuer' || k.endsWith('Kid'))) subject[k] = v;
    await this.#appendAudit(this.#pool, {
      actor: base.actor,
      action: `key.${op}`,
      subject,
      policyVersion: base.policyVersion,
      outcome: 'refused',
      details: { code: err.code, message: err.message },
    }).catch(() => {
      // The operation is refused either way; a lost refusal record must not mask the refusal.
    });
  }
}
