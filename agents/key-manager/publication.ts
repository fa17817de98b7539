import type { JWK } from 'jose';
import { isKeyturnError } from '../../config/errors.js';
import type { SigningAlgorithm } from '../planner/policy-types.js';
import type { Queryable } from '../shared/db.js';
import type { KekProvider } from './envelope.js';
import { SEALED_COLUMNS, type SealedRow } from './store.js';
import { publicHalf, unsealSigningKey } from './unseal.js';

/** A stored key left out of the JWKS, and why (never key material). */
export interface WithheldKey {
  kid: string;
  issuer: string;
  code: string;
  message: string;
  hint?: string;
}

interface Vouched {
  issuer: string;
  alg: SigningAlgorithm;
  jwk: JWK;
}

interface ListedRow extends Record<string, unknown> {
  kid: string;
  issuer: string;
  alg: SigningAlgorithm;
  kek_id: string;
}

/** Why a stored key cannot be vouched for, as opposed to a database failure (which fails the whole JWKS). */
const UNOPENABLE = new Set(['KEK_MISMATCH', 'KEY_CIPHERTEXT_TAMPERED', 'KEY_BINDING_MISMATCH']);
const JWKS_ORDER = `CASE state WHEN 'active' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END`;

/**
 * The JWKS KeyManager vouches for. A row's `public_jwk` is not trusted: anyone who can insert into
 * signing_keys could list a public key of their own there. A key is published once its sealed
 * private key has opened under a KEK this process holds, sealed for its issuer and kid, and what is
 * published is that key's public half. A kid is its key's thumbprint, so a vouched kid stays vouched.
 * A key this process cannot open is withheld (reported once per KEK it is sealed under), not served.
 */
export class Publication {
  readonly #kek: KekProvider;
  readonly #onWithheld: (key: WithheldKey) => void;
  readonly #vouched = new Map<string, Vouched>();
  /** kid → the KEK id it could not be opened under: tried again once it is resealed. */
  readonly #withheld = new Map<string, string>();

  constructor(kek: KekProvider, onWithheld: (key: WithheldKey) => void = () => {}) {
    this.#kek = kek;
    this.#onWithheld = onWithheld;
  }

  /** Records a key this process has just generated, so it is published without being opened again. */
  vouch(kid: string, issuer: string, alg: SigningAlgorithm, publicJwk: JWK): void {
    this.#vouched.set(kid, { issuer, alg, jwk: Object.freeze({ ...publicJwk }) });
  }

  /** Published keys (pending, active, retiring) of one issuer or all, public members only. */
  async jwks(db: Queryable, issuer?: string): Promise<{ keys: JWK[] }> {
    const { rows } = await db.query<ListedRow>(
      `SELECT kid, issuer, alg, kek_id FROM signing_keys
        WHERE state IN ('pending', 'active', 'retiring') AND ($1::text IS NULL OR issuer = $1)
        ORDER BY ${JWKS_ORDER}, created_at DESC, kid`,
      [issuer ?? null],
    );
    const unknown = rows.filter((r) => !this.#vouchedFor(r) && this.#withheld.get(r.kid) !== r.kek_id).map((r) => r.kid);
    if (unknown.length > 0) await this.#open(db, unknown);
    return { keys: rows.flatMap((r) => (this.#vouchedFor(r) ? [{ ...this.#vouched.get(r.kid)!.jwk }] : [])) };
  }

  #vouchedFor(row: ListedRow): boolean {
    const v = this.#vouched.get(row.kid);
    return v !== undefined && v.issuer === row.issuer && v.alg === row.alg;
  }

  async #open(db: Queryable, kids: string[]): Promise<void> {
    const { rows } = await db.query<SealedRow>(`SELECT ${SEALED_COLUMNS} FROM signing_keys WHERE kid = ANY($1::text[])`, [kids]);
    for (const row of rows) {
      try {
        const key = await unsealSigningKey(row, this.#kek);
        this.vouch(row.kid, row.issuer, row.alg, { ...publicHalf(key), use: 'sig', alg: row.alg, kid: row.kid });
        this.#withheld.delete(row.kid);
      } catch (e) {
        if (!isKeyturnError(e) || !UNOPENABLE.has(e.code)) throw e;
        this.#vouched.delete(row.kid);
        this.#withheld.set(row.kid, row.kek_id);
        this.#onWithheld({ kid: row.kid, issuer: row.issuer, code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) });
      }
    }
  }
}
