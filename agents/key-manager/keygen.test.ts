import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import type { SigningAlgorithm } from '../planner/policy-types.js';
import { generateSigningKey } from './keygen.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const ALGS: Array<[SigningAlgorithm, Record<string, string>]> = [
  ['RS256', { kty: 'RSA' }],
  ['PS256', { kty: 'RSA' }],
  ['ES256', { kty: 'EC', crv: 'P-256' }],
  ['EdDSA', { kty: 'OKP', crv: 'Ed25519' }],
];

describe('key generation', () => {
  it.each(ALGS)('%s: public JWK has use sig, alg, the RFC 7638 thumbprint as kid, and no private members', async (alg, shape) => {
    const key = await generateSigningKey(alg);
    expect(key.publicJwk).toMatchObject({ ...shape, use: 'sig', alg, kid: key.kid });
    expect(key.kid).toBe(await calculateJwkThumbprint(key.publicJwk, 'sha256'));
    for (const m of PRIVATE_MEMBERS) expect(key.publicJwk).not.toHaveProperty(m);
  });

  it('uses the requested RSA modulus length', async () => {
    const key = await generateSigningKey('RS256', 3072);
    expect(key.privateKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
  });

  it('refuses an RSA modulus below 2048 with KEY_PARAMS_INVALID', async () => {
    await expect(generateSigningKey('PS256', 1024)).rejects.toSatisfy((e) => isKeyturnError(e, 'KEY_PARAMS_INVALID'));
  });
});
