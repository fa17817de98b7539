import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { calculateJwkThumbprint, CompactSign, compactVerify, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { z } from 'zod';
import { isKeyturnError, KeyturnError } from '../../config/errors.js';
import { readSecretFile } from '../auditor/audit-key.js';
import { REVOCATION_KINDS, type RevocationKind } from '../validator/revocation-list.js';

/** The JWS `typ` of a revocation notice: a subscriber refuses any other (no confusion with tokens or audit checkpoints). */
export const REVOCATION_NOTICE_TYP = 'keyturn-revocation+jws';
export const REVOCATION_NOTICE_ALG = 'EdDSA';
/** The media type a notice is POSTed with: a compact JWS. */
export const REVOCATION_NOTICE_CONTENT_TYPE = 'application/jose';

export const REVOCATION_EVENTS = ['revocation.contained', 'revocation.confirmed', 'revocation.lifted'] as const;
export type RevocationEvent = (typeof REVOCATION_EVENTS)[number];

/** How long a notice is good for after it was signed: a run retries for about a minute and a half, and a notice resent later is signed again. */
export const REVOCATION_NOTICE_LIFETIME_SECONDS = 600;

/**
 * What a downstream subscriber is told. `jti` identifies the notice itself: subscribers drop repeats
 * of one they have applied. `aud` is the subscriber it was signed for (no subscriber can replay it to
 * another); `iat`/`exp` (seconds) bound when it may be applied. `seq` orders the notices of one
 * target (kind, value, `before` and issuer): apply one only if its seq is greater than the last
 * applied for the target, except that a `confirmed` target stays revoked (apply `confirmed` whatever
 * its seq). A notice resent later keeps its jti, seq and `revokedAt`, and gets a new `iat`.
 */
export interface RevocationNotice {
  event: RevocationEvent;
  kind: RevocationKind;
  value: string;
  /** kind `sub` only: the entry covers the subject's tokens issued before this instant (ISO-8601); absent, all of them. */
  before?: string;
  issuer: string;
  /** ISO-8601: when the run reached this event; the same in every sending of the notice. */
  revokedAt: string;
  /**
   * The audit-log sequence number of the change this notice reports (the containment, lift or
   * confirmation): audit entries are appended one at a time, in the order their changes commit, so
   * it orders the changes of one target even when their notices travel out of order.
   */
  seq: number;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
}

const instant = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'an ISO-8601 instant');
const NoticeSchema = z
  .strictObject({
    event: z.enum(REVOCATION_EVENTS),
    kind: z.enum(REVOCATION_KINDS as [RevocationKind, ...RevocationKind[]]),
    value: z.string().min(1).max(1024),
    before: instant.optional(),
    issuer: z.string().min(1).max(2048),
    revokedAt: instant,
    seq: z.number().int().positive(),
    aud: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$/),
    iat: z.number().int().nonnegative(),
    exp: z.number().int().positive(),
    jti: z.string().regex(/^[A-Za-z0-9._:-]{1,200}$/),
  })
  .refine((n) => n.exp > n.iat, { message: 'exp must be after iat', path: ['exp'] })
  .refine((n) => n.before === undefined || n.kind === 'sub', { message: 'before applies to sub notices only', path: ['before'] });

function invalidNotice(message: string): KeyturnError {
  return new KeyturnError('REVOCATION_NOTICE_INVALID', message, 'Drop the notice: it was not signed by keyturn, was altered, or is malformed.');
}

function checkNotice(value: unknown, what: string): RevocationNotice {
  const parsed = NoticeSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalidNotice(`${what}: field ${issue.path.join('.') || '(root)'} is invalid: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * A notice with a fresh random jti unless one is given. Give a stable jti (e.g. derived from the
 * workflow id) when the notice may be rebuilt on retry: Ed25519 is deterministic, so the same
 * notice signs to the same bytes and subscribers can de-duplicate.
 */
export function buildRevocationNotice(input: Omit<RevocationNotice, 'jti' | 'revokedAt' | 'iat' | 'exp' | 'before'> & { revokedAt: Date | string; before?: Date | string; jti?: string; issuedAt?: Date }): RevocationNotice {
  const revokedAt = new Date(input.revokedAt);
  if (Number.isNaN(revokedAt.getTime())) throw invalidNotice('revokedAt is not a valid instant');
  const before = input.before === undefined ? undefined : new Date(input.before);
  if (before !== undefined && Number.isNaN(before.getTime())) throw invalidNotice('before is not a valid instant');
  // iat is the event's time unless given, not the signing time: a notice rebuilt on a run's retry
  // signs to the same bytes. A notice resent later (notice-outbox.ts) is issued anew.
  const iat = Math.floor((input.issuedAt ?? revokedAt).getTime() / 1000);
  return checkNotice(
    {
      event: input.event, kind: input.kind, value: input.value, ...(before ? { before: before.toISOString() } : {}), issuer: input.issuer, revokedAt: revokedAt.toISOString(),
      seq: input.seq, aud: input.aud, iat, exp: iat + REVOCATION_NOTICE_LIFETIME_SECONDS, jti: input.jti ?? randomBytes(16).toString('base64url'),
    },
    'notice',
  );
}

/**
 * Signs revocation notices with the Ed25519 notice key. Like the AuditSigner, the private key lives
 * in a private field: not enumerable, not serialised, not printed by console.log or pino.
 */
export class RevocationNoticeSigner {
  readonly #privateKey: CryptoKey;

  constructor(
    privateKey: CryptoKey,
    /** Public members only: give this to subscribers. */
    readonly publicJwk: JWK,
    readonly kid: string,
    /** Where the key came from (a file path or the variable's name), for messages. */
    readonly source: string,
  ) {
    this.#privateKey = privateKey;
  }

  /** Compact JWS, protected header {alg: EdDSA, typ: keyturn-revocation+jws, kid}, over the notice's JSON. */
  async sign(notice: RevocationNotice): Promise<string> {
    const n = checkNotice(notice, 'notice');
    const payload = { event: n.event, kind: n.kind, value: n.value, ...(n.before !== undefined ? { before: n.before } : {}), issuer: n.issuer, revokedAt: n.revokedAt, seq: n.seq, aud: n.aud, iat: n.iat, exp: n.exp, jti: n.jti };
    return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: REVOCATION_NOTICE_ALG, typ: REVOCATION_NOTICE_TYP, kid: this.kid })
      .sign(this.#privateKey);
  }

  toJSON(): Record<string, unknown> {
    return { kid: this.kid, publicJwk: this.publicJwk, source: this.source };
  }

  [inspect.custom](): string {
    return `RevocationNoticeSigner { kid: ${this.kid}, source: ${this.source} }`;
  }
}

/** Signs `notice` (see RevocationNoticeSigner.sign). */
export function signRevocationNotice(notice: RevocationNotice, key: RevocationNoticeSigner): Promise<string> {
  return key.sign(notice);
}

function parseJwk(text: string, where: string): JWK {
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as JWK;
  } catch {
    // fall through: never echo the text, it may be a private key
  }
  throw new KeyturnError('REVOCATION_KEY_INVALID', `${where} is not a JSON Web Key`, 'The revocation notice key must be one Ed25519 JWK object (kty OKP, crv Ed25519, x, d).');
}

/** A signer from a private Ed25519 JWK (object or JSON text). Errors name `source`, never the key. */
export async function revocationNoticeSignerFromJwk(jwkOrText: JWK | string, source: string): Promise<RevocationNoticeSigner> {
  const jwk = typeof jwkOrText === 'string' ? parseJwk(jwkOrText, source) : jwkOrText;
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string' || typeof jwk.x !== 'string') {
    throw new KeyturnError('REVOCATION_KEY_INVALID', `${source} is not an Ed25519 private JWK`, 'The revocation notice key must be a JWK with kty "OKP", crv "Ed25519" and both "x" and "d".');
  }
  let privateKey: CryptoKey;
  try {
    privateKey = (await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, REVOCATION_NOTICE_ALG)) as CryptoKey;
  } catch {
    throw new KeyturnError('REVOCATION_KEY_INVALID', `${source} holds an Ed25519 JWK that cannot be imported`, 'Regenerate the revocation notice key.');
  }
  const publicJwk: JWK = { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
  const kid = jwk.kid ?? (await calculateJwkThumbprint(publicJwk));
  return new RevocationNoticeSigner(privateKey, { ...publicJwk, kid, alg: REVOCATION_NOTICE_ALG, use: 'sig' }, kid, source);
}

export interface LoadRevocationNoticeKeyOptions {
  /** Default process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The notice key, as the audit key is loaded: the JWK file named by KEYTURN_REVOCATION_KEY_FILE,
 * which must not be accessible to group or others (0600; the audit key's readSecretFile checks
 * it), else the JWK JSON in KEYTURN_REVOCATION_KEY. Neither set: REVOCATION_KEY_MISSING.
 */
export async function loadRevocationNoticeKey(opts: LoadRevocationNoticeKeyOptions = {}): Promise<RevocationNoticeSigner> {
  const env = opts.env ?? process.env;
  const file = env.KEYTURN_REVOCATION_KEY_FILE;
  if (file) {
    let text: string;
    try {
      text = await readSecretFile(file);
    } catch (e) {
      if (isKeyturnError(e, 'SECRET_FILE_MISSING')) throw new KeyturnError('SECRET_FILE_MISSING', `secret file ${file} cannot be read`, 'Check the path in KEYTURN_REVOCATION_KEY_FILE.');
      throw e;
    }
    return revocationNoticeSignerFromJwk(text, file);
  }
  const inline = env.KEYTURN_REVOCATION_KEY;
  if (inline) return revocationNoticeSignerFromJwk(inline, 'KEYTURN_REVOCATION_KEY');
  throw new KeyturnError(
    'REVOCATION_KEY_MISSING',
    'no revocation notice signing key is configured',
    'Set KEYTURN_REVOCATION_KEY_FILE to an Ed25519 private JWK file (mode 0600), or KEYTURN_REVOCATION_KEY to its JSON.',
  );
}

/**
 * The notice key of a development machine: KEYTURN_REVOCATION_KEY_FILE / KEYTURN_REVOCATION_KEY when
 * set, else `revocation-key.jwk` in the data directory, generated (0600) the first time it is needed.
 */
export async function loadDevRevocationNoticeKey(devDataDir: string, env: NodeJS.ProcessEnv, warn: (message: string) => void): Promise<RevocationNoticeSigner> {
  const e = { ...env };
  if (!e.KEYTURN_REVOCATION_KEY_FILE && !e.KEYTURN_REVOCATION_KEY) {
    const path = join(devDataDir, 'revocation-key.jwk');
    if (!existsSync(path)) {
      const { privateKey } = await generateKeyPair(REVOCATION_NOTICE_ALG, { crv: 'Ed25519', extractable: true });
      try {
        writeFileSync(path, `${JSON.stringify(await exportJWK(privateKey))}\n`, { mode: 0o600, flag: 'wx' });
        warn(`generated a development revocation-notice key at ${path} (0600); set KEYTURN_REVOCATION_KEY_FILE for anything real`);
      } catch (err) {
        // Another process created it first: that one is the key.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    e.KEYTURN_REVOCATION_KEY_FILE = path;
  }
  return loadRevocationNoticeKey({ env: e });
}

/** Public keys a subscriber trusts: one JWK, a list, or a JWKS. */
export type NoticeKeys = JWK | JWK[] | { keys: JWK[] };

export interface VerifiedNotice {
  notice: RevocationNotice;
  kid: string;
}

/**
 * For subscribers: verifies a notice's compact JWS against keyturn's notice public key(s) and
 * returns the notice. Refuses (REVOCATION_NOTICE_INVALID) any other typ or alg, an unknown kid, a
 * bad signature, a payload that is not exactly a notice, one past its exp or dated in the future,
 * and, given `audience`, one signed for another subscriber. Subscribers should also drop a jti they
 * have already applied, and order the notices of one target by seq (see RevocationNotice).
 */
export interface VerifyNoticeOptions {
  /** The subscriber's own id: a notice signed for another subscriber is refused. */
  audience?: string;
  /** Default: the system clock. */
  now?: () => Date;
  /** Tolerated clock difference. Default 60 s. */
  skewSeconds?: number;
}

export async function verifyRevocationNotice(jws: string, trusted: NoticeKeys, o: VerifyNoticeOptions = {}): Promise<VerifiedNotice> {
  if (typeof jws !== 'string' || jws.length > 16_384) throw invalidNotice('a notice must be a compact JWS string of at most 16 KiB');
  let header;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    throw invalidNotice('the notice is not a compact JWS');
  }
  if (header.typ !== REVOCATION_NOTICE_TYP) throw invalidNotice(`the notice typ must be ${REVOCATION_NOTICE_TYP}`);
  if (header.alg !== REVOCATION_NOTICE_ALG) throw invalidNotice(`the notice alg must be ${REVOCATION_NOTICE_ALG}`);
  const list = Array.isArray(trusted) ? trusted : 'keys' in trusted && Array.isArray(trusted.keys) ? trusted.keys : [trusted as JWK];
  const jwk = typeof header.kid === 'string' ? list.find((k) => k.kid === header.kid) : undefined;
  if (!jwk) throw invalidNotice('the notice is signed with a key that is not trusted (unknown kid)');
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw invalidNotice('the trusted notice key is not an Ed25519 public JWK');
  const key = (await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }, REVOCATION_NOTICE_ALG)) as CryptoKey;
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(jws, key, { algorithms: [REVOCATION_NOTICE_ALG] }));
  } catch {
    throw invalidNotice('the notice signature does not verify');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    throw invalidNotice('the notice payload is not JSON');
  }
  const notice = checkNotice(parsed, 'notice payload');
  if (o.audience !== undefined && notice.aud !== o.audience) throw invalidNotice('the notice was signed for another subscriber (aud)');
  const now = (o.now?.() ?? new Date()).getTime() / 1000;
  const skew = o.skewSeconds ?? 60;
  if (notice.exp <= now - skew) throw invalidNotice('the notice has expired (exp): an old notice replayed, or one held back too long');
  if (notice.iat > now + skew) throw invalidNotice('the notice is dated in the future (iat)');
  return { notice, kid: header.kid! };
}
