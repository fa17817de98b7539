import { constants, verify } from 'node:crypto';
import type { VerificationKey } from './keys.js';

/** Order of the P-256 group: ECDSA r and s must lie in [1, n-1]. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function scalar(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
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
        const bytes = Math.ceil((k.key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
        if (bytes === 0 || sig.length !== bytes) return false;
        return k.alg === 'RS256'
          ? verify('sha256', input, { key: k.key, padding: constants.RSA_PKCS1_PADDING }, sig)
          : verify('sha256', input, { key: k.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
      }
      case 'ES256': {
        if (sig.length !== 64) return false;
        const r = scalar(sig.subarray(0, 32));
        const s = scalar(sig.subarray(32));
        if (r === 0n || s === 0n || r >= P256_N || s >= P256_N) return false;
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
