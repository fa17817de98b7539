import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { KeyturnError } from '../../config/errors.js';
import type { SigningAlgorithm } from '../planner/policy-types.js';

const generate = promisify(generateKeyPair);

export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];
export const MIN_RSA_MODULUS = 2048;
export const MAX_RSA_MODULUS = 8192;

/** The public members each key type may publish; everything else (d, p, q, dp, dq, qi, oth, k, …) is dropped. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
};

/** Copies only the public members of a JWK (plus use/alg/kid); a symmetric or unknown key type is refused. */
export function publicJwkOnly(jwk: JWK): JWK {
  const members = jwk.kty ? PUBLIC_MEMBERS[jwk.kty] : undefined;
  if (!members) throw new KeyturnError('KEY_PARAMS_INVALID', `not a publishable key type: ${String(jwk.kty)}`);
  const out: Record<string, unknown> = {};
  for (const m of [...members, 'use', 'alg', 'kid']) {
    const v = (jwk as Record<string, unknown>)[m];
    if (typeof v === 'string') out[m] = v;
  }
  return out as JWK;
}

export interface GeneratedKey {
  kid: string;
  alg: SigningAlgorithm;
  /** Public members only, with use 'sig', alg and kid. */
  publicJwk: JWK;
  /** PKCS#8; sealed immediately by the caller and never leaves KeyManager. */
  privateKey: KeyObject;
}

function rsaModulus(length: number | undefined): number {
  const n = length ?? MIN_RSA_MODULUS;
  if (!Number.isInteger(n) || n < MIN_RSA_MODULUS || n > MAX_RSA_MODULUS || n % 8 !== 0) {
    throw new KeyturnError('KEY_PARAMS_INVALID', `RSA modulus length must be a multiple of 8 between ${MIN_RSA_MODULUS} and ${MAX_RSA_MODULUS} (got ${n})`, 'Use 2048, 3072 or 4096.');
  }
  return n;
}

async function keyPair(alg: SigningAlgorithm, rsaModulusLength?: number): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  switch (alg) {
    case 'RS256':
    case 'PS256':
      // PS256 keys are plain RSA keys (rsaEncryption OID), so any JOSE library imports them.
      return generate('rsa', { modulusLength: rsaModulus(rsaModulusLength), publicExponent: 0x10001 });
    case 'ES256':
      return generate('ec', { namedCurve: 'P-256' });
    case 'EdDSA':
      return generate('ed25519');
    default:
      throw new KeyturnError('KEY_PARAMS_INVALID', `unsupported signing algorithm ${String(alg)}`, `Use one of ${SIGNING_ALGORITHMS.join(', ')}.`);
  }
}

/** Generates a signing key pair; kid is the RFC 7638 SHA-256 thumbprint of the public JWK. */
export async function generateSigningKey(alg: SigningAlgorithm, rsaModulusLength?: number): Promise<GeneratedKey> {
  const { publicKey, privateKey } = await keyPair(alg, rsaModulusLength);
  const bare = publicJwkOnly(publicKey.export({ format: 'jwk' }) as JWK);
  const kid = await calculateJwkThumbprint(bare, 'sha256');
  return { kid, alg, publicJwk: { ...bare, use: 'sig', alg, kid }, privateKey };
}
