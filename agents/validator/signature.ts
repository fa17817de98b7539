import { constants, verify, type KeyObject } from 'node:crypto';
import type { VerificationKey } from './keys.js';

/** Order of the P-256 group, big-endian: ECDSA r and s must lie in [1, n-1]. */
const P256_N = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');

/** 1 ≤ x ≤ n-1 for a 32-byte big-endian scalar (byte comparison: no BigInt per verify). */
function inP256ScalarRange(x: Uint8Array): boolean {
  return x.some((b) => b !== 0) && Buffer.compare(x, P256_N) < 0;
}

/** RSA signature length by key: asymmetricKeyDetails builds a new object on every read. */
const rsaSignatureBytes = new WeakMap<KeyObject, number>();
function rsaBytes(key: KeyObject): number {
  let n = rsaSignatureBytes.get(key);
  if (n === undefined) {
    n = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
    rsaSignatureBytes.set(key, n);
  }
  return n;
}

/**
 * Verifies a JWS signature (JOSE format, RFC 7518 §3) with node:crypto directly. The algorithm is
 * the KEY's, already checked equal to the header's by the caller. Wrong-length signatures and
 * ECDSA r or s outside [1, n-1] (the "psychic signature", r = s = 0) are refused before crypto runs.
 */
export function verifySignature(k: VerificationKey, input: Uint8Array, sig: Uint8Array): boolean {
  try {
    switch (k.alg) {
      case 'RS256':
      case 'PS256': {
        const bytes = rsaBytes(k.key);
        if (bytes === 0 || sig.length !== bytes) return false;
        return k.alg === 'RS256'
          ? verify('sha256', input, { key: k.key, padding: constants.RSA_PKCS1_PADDING }, sig)
          : verify('sha256', input, { key: k.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
      }
      case 'ES256': {
        if (sig.length !== 64) return false;
        if (!inP256ScalarRange(sig.subarray(0, 32)) || !inP256ScalarRange(sig.subarray(32))) return false;
        return verify('sha256', input, { key: k.key, dsaEncoding: 'ieee-p1363' }, sig);
      }
      case 'EdDSA':
        if (sig.length !== 64 || k.key.asymmetricKeyType !== 'ed25519') return false;
        return verify(null, input, k.key, sig);
      default:
        return false;
    }
  } catch {
    return false;
  }
}
