import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { KeyturnError } from '../../config/errors.js';
import type { SigningAlgorithm } from '../planner/policy-types.js';
import { openPrivateKey, type KekProvider } from './envelope.js';
import { MIN_RSA_MODULUS, publicJwkOnly } from './keygen.js';
import { sealedKeyOf, type SealedRow } from './store.js';

function notThisKey(kid: string, why: string): KeyturnError {
  return new KeyturnError('KEY_BINDING_MISMATCH', `the private key stored for ${kid} ${why}`, 'Revoke the key and investigate who could write signing_keys.', { kid });
}

/** Whether a key is of the type its row's algorithm signs with (a PS256 key is a plain RSA key). */
export function fitsAlgorithm(alg: SigningAlgorithm, key: KeyObject): boolean {
  const details = key.asymmetricKeyDetails ?? {};
  switch (alg) {
    case 'RS256':
    case 'PS256':
      return key.asymmetricKeyType === 'rsa' && (details.modulusLength ?? 0) >= MIN_RSA_MODULUS;
    case 'ES256':
      return key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1';
    case 'EdDSA':
      return key.asymmetricKeyType === 'ed25519';
    default:
      return false;
  }
}

/**
 * Opens a row's sealed private key and checks it is the row's key: sealed for its issuer and kid
 * (the envelope's binding), of its algorithm's type, and the key whose public half has the kid as
 * its RFC 7638 thumbprint. Any other outcome is a typed error; the plaintext DER is wiped.
 */
export async function unsealSigningKey(row: SealedRow, kek: KekProvider): Promise<KeyObject> {
  const der = await openPrivateKey(sealedKeyOf(row), { issuer: row.issuer, kid: row.kid }, kek);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    throw new KeyturnError('KEY_CIPHERTEXT_TAMPERED', `the decrypted private key of ${row.kid} is not a valid key`, 'Revoke the key.', { kid: row.kid });
  } finally {
    der.fill(0);
  }
  if (!fitsAlgorithm(row.alg, key)) throw notThisKey(row.kid, `is not a ${row.alg} key`);
  if ((await calculateJwkThumbprint(publicHalf(key), 'sha256')) !== row.kid) throw notThisKey(row.kid, 'does not match its public key');
  return key;
}

/** The public members of a private key's public half, as a JWK. */
export function publicHalf(key: KeyObject): JWK {
  return publicJwkOnly(createPublicKey(key).export({ format: 'jwk' }) as JWK);
}
