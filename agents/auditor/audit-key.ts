import { constants } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { calculateJwkThumbprint, CompactSign, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { loadEnv } from '../../config/env.js';
import { isKeyturnError, KeyturnError } from '../../config/errors.js';
import { readSecretFile as readOwnerOnlyFile } from '../shared/secret-file.js';

export const AUDIT_KEY_ALG = 'EdDSA';
export const AUDIT_KEY_FILE_NAME = 'audit-key.jwk';

/**
 * Signs audit checkpoints with the Ed25519 audit key. The private key lives in a private field:
 * it is not enumerable, not serialisable and not printed by console.log / pino.
 */
export class AuditSigner {
  readonly #privateKey: CryptoKey;

  constructor(
    privateKey: CryptoKey,
    /** Public members only: publish this for verifiers. */
    readonly publicJwk: JWK,
    readonly kid: string,
    /** Where the key came from (a file path), for messages. */
    readonly source: string,
  ) {
    this.#privateKey = privateKey;
  }

  /** A compact JWS over the payload's JSON, protected header {alg: EdDSA, kid}. */
  async signJson(payload: unknown): Promise<string> {
    return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: AUDIT_KEY_ALG, kid: this.kid })
      .sign(this.#privateKey);
  }

  toJSON(): Record<string, unknown> {
    return { kid: this.kid, publicJwk: this.publicJwk, source: this.source };
  }

  [inspect.custom](): string {
    return `AuditSigner { kid: ${this.kid}, source: ${this.source} }`;
  }
}

export interface LoadAuditKeyOptions {
  /** Defaults to process.env: KEYTURN_AUDIT_KEY_FILE, else KEYTURN_DATA_DIR. */
  env?: NodeJS.ProcessEnv;
  /** Where the dev-key warning goes; default stderr. */
  warn?: (message: string) => void;
  /** Generate a dev key when none exists (default true). */
  create?: boolean;
}

/**
 * The audit key: the JWK file named by KEYTURN_AUDIT_KEY_FILE (must not be readable by group or
 * others, i.e. 0600 or stricter), else `<KEYTURN_DATA_DIR>/audit-key.jwk`, generated there (0600)
 * with a warning when missing. Returns null only with `create: false` and no key anywhere.
 */
export async function loadAuditKey(opts: LoadAuditKeyOptions & { create: false }): Promise<AuditSigner | null>;
export async function loadAuditKey(opts?: LoadAuditKeyOptions): Promise<AuditSigner>;
export async function loadAuditKey(opts: LoadAuditKeyOptions = {}): Promise<AuditSigner | null> {
  const env = opts.env ?? process.env;
  const warn = opts.warn ?? ((m: string) => void process.stderr.write(`warning: ${m}\n`));
  const configured = env.KEYTURN_AUDIT_KEY_FILE;
  if (configured) return signerFromFile(configured);

  const path = join(loadEnv(env).dataDir, AUDIT_KEY_FILE_NAME);
  if (await exists(path)) return signerFromFile(path);
  if (opts.create === false) return null;
  await generateKeyFile(path);
  warn(`generated a development audit key at ${path}; set KEYTURN_AUDIT_KEY_FILE to a managed Ed25519 JWK (mode 0600) in production`);
  return signerFromFile(path);
}

/** Imports a published audit public key (a JWK, or a JWK file's JSON text). */
export async function importAuditPublicKey(jwk: JWK | string): Promise<CryptoKey> {
  const parsed: JWK = typeof jwk === 'string' ? parseJwk(jwk, 'audit public key') : jwk;
  if (parsed.kty !== 'OKP' || parsed.crv !== 'Ed25519' || typeof parsed.x !== 'string') {
    throw new KeyturnError('AUDIT_KEY_INVALID', 'the audit public key is not an Ed25519 JWK', 'Use the publicJwk that `loadAuditKey()` exports (kty OKP, crv Ed25519).');
  }
  const { d: _d, ...pub } = parsed;
  return (await importJWK({ ...pub, alg: AUDIT_KEY_ALG }, AUDIT_KEY_ALG)) as CryptoKey;
}

/** Reads an owner-only secret file (see agents/shared/secret-file.ts); a missing one is SECRET_FILE_MISSING. */
export async function readSecretFile(path: string): Promise<string> {
  try {
    return readOwnerOnlyFile(path);
  } catch (e) {
    if (isKeyturnError(e, 'SECRET_FILE_UNREADABLE')) throw new KeyturnError('SECRET_FILE_MISSING', `secret file ${path} cannot be read`, 'Check the path in KEYTURN_AUDIT_KEY_FILE.');
    throw e;
  }
}

async function signerFromFile(path: string): Promise<AuditSigner> {
  const jwk = parseJwk(await readSecretFile(path), path);
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string' || typeof jwk.x !== 'string') {
    throw new KeyturnError('AUDIT_KEY_INVALID', `${path} is not an Ed25519 private JWK`, 'The audit key must be a JWK with kty "OKP", crv "Ed25519" and both "x" and "d".');
  }
  let privateKey: CryptoKey;
  try {
    privateKey = (await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, AUDIT_KEY_ALG)) as CryptoKey;
  } catch {
    throw new KeyturnError('AUDIT_KEY_INVALID', `${path} holds an Ed25519 JWK that cannot be imported`, 'Regenerate the audit key file.');
  }
  const publicJwk: JWK = { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
  const kid = jwk.kid ?? (await calculateJwkThumbprint(publicJwk));
  return new AuditSigner(privateKey, { ...publicJwk, kid, alg: AUDIT_KEY_ALG, use: 'sig' }, kid, path);
}

async function generateKeyFile(path: string): Promise<void> {
  const { privateKey } = await generateKeyPair(AUDIT_KEY_ALG, { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: jwk.x! });
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  let handle;
  try {
    // O_EXCL: two processes starting at once never overwrite each other's key.
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw e;
  }
  try {
    await handle.writeFile(`${JSON.stringify({ ...jwk, kid, alg: AUDIT_KEY_ALG, use: 'sig' })}\n`);
  } finally {
    await handle.close();
  }
}

function parseJwk(text: string, where: string): JWK {
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as JWK;
  } catch {
    // fall through: never echo the file's content, it may be a private key
  }
  throw new KeyturnError('AUDIT_KEY_INVALID', `${where} is not a JSON Web Key`, 'The audit key file must hold one JWK object.');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
