import { constants, sign, type KeyObject, type SignKeyObjectInput } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';
import type { SigningAlgorithm } from '../planner/policy-types.js';

/** node:crypto's digest and key options for `alg`, giving signatures in the JOSE format (RFC 7518 §3 / RFC 8037): raw r||s for ES256, not DER. */
export function joseSignArgs(alg: SigningAlgorithm, key: KeyObject): [digest: string | null, key: KeyObject | SignKeyObjectInput] {
  switch (alg) {
    case 'RS256':
      return ['sha256', { key, padding: constants.RSA_PKCS1_PADDING }];
    case 'PS256':
      return ['sha256', { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }];
    case 'ES256':
      return ['sha256', { key, dsaEncoding: 'ieee-p1363' }];
    case 'EdDSA':
      return [null, key];
    default:
      throw new KeyturnError('KEY_PARAMS_INVALID', `unsupported signing algorithm ${String(alg)}`);
  }
}

/** Signs a JWS signing input with node:crypto directly, on the calling thread. */
export function joseSign(alg: SigningAlgorithm, key: KeyObject, input: Uint8Array): Uint8Array {
  const [digest, signKey] = joseSignArgs(alg, key);
  try {
    return sign(digest, input, signKey);
  } catch (e) {
    throw signingFailed(alg, e);
  }
}

/** node:crypto's error, typed. It names the failure (its code, or OpenSSL's reason when the thread pool gives no code), never the key. */
function signingFailed(alg: SigningAlgorithm, cause: unknown): KeyturnError {
  const { code, message } = (cause ?? {}) as { code?: unknown; message?: unknown };
  const reason = typeof code === 'string' ? code : typeof message === 'string' ? message.slice(0, 120) : 'unknown';
  return new KeyturnError('SIGNING_FAILED', `node:crypto could not make a ${alg} signature (${reason})`, 'The key does not fit its algorithm or the crypto library failed: rotate the issuer\'s key, and report it if it happens again.', { alg, cause: reason });
}

/**
 * RSA signatures take about a millisecond of CPU: they run on libuv's thread pool, so the event
 * loop keeps serving (and other cores sign) meanwhile. EC and Ed25519 sign in less time than a
 * trip through the pool costs, so they stay on the calling thread.
 */
export function joseSignOffThread(alg: SigningAlgorithm, key: KeyObject, input: Uint8Array): Promise<Uint8Array> {
  if (alg !== 'RS256' && alg !== 'PS256') {
    try {
      return Promise.resolve(joseSign(alg, key, input));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }
  const [digest, signKey] = joseSignArgs(alg, key);
  return signOnThreadPool(digest, input, signKey).catch((e: unknown) => {
    throw signingFailed(alg, e);
  });
}

/** node:crypto's asynchronous sign, as a promise: the work runs on libuv's thread pool. */
export function signOnThreadPool(digest: string | null, input: Uint8Array, key: KeyObject | SignKeyObjectInput): Promise<Buffer> {
  // A synchronous throw (bad options) rejects too: the executor turns it into a rejection.
  return new Promise((resolve, reject) => sign(digest, input, key, (err, sig) => (err ? reject(err) : resolve(sig))));
}
