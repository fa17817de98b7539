import { constants, sign, type KeyObject } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';
import type { SigningAlgorithm } from '../planner/policy-types.js';

/**
 * Signs a JWS signing input with node:crypto directly, producing the signature bytes in the JOSE
 * format for `alg` (RFC 7518 §3 / RFC 8037): raw r||s for ES256, not DER.
 */
export function joseSign(alg: SigningAlgorithm, key: KeyObject, input: Uint8Array): Uint8Array {
  switch (alg) {
    case 'RS256':
      return sign('sha256', input, { key, padding: constants.RSA_PKCS1_PADDING });
    case 'PS256':
      return sign('sha256', input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    case 'ES256':
      return sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' });
    case 'EdDSA':
      return sign(null, input, key);
    default:
      throw new KeyturnError('KEY_PARAMS_INVALID', `unsupported signing algorithm ${String(alg)}`);
  }
}

/**
 * RSA signatures take about a millisecond of CPU: they run on libuv's thread pool, so the event
 * loop keeps serving (and other cores sign) meanwhile. EC and Ed25519 sign in less time than a
 * trip through the pool costs, so they stay on the calling thread.
 */
export function joseSignOffThread(alg: SigningAlgorithm, key: KeyObject, input: Uint8Array): Promise<Uint8Array> {
  if (alg !== 'RS256' && alg !== 'PS256') return Promise.resolve(joseSign(alg, key, input));
  const padding = alg === 'RS256' ? { padding: constants.RSA_PKCS1_PADDING } : { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
  return new Promise((resolve, reject) => sign('sha256', input, { key, ...padding }, (err, sig) => (err ? reject(err) : resolve(sig))));
}
