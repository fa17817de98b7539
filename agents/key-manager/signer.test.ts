import { base64url, importJWK, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import type { SigningAlgorithm } from '../planner/policy-types.js';
import { generateSigningKey } from './keygen.js';
import { joseSign } from './signer.js';

describe('JOSE signatures with node:crypto', () => {
  it.each<SigningAlgorithm>(['RS256', 'PS256', 'ES256', 'EdDSA'])('%s signature verifies as a JWT with jose', async (alg) => {
    const key = await generateSigningKey(alg);
    const header = base64url.encode(JSON.stringify({ alg, kid: key.kid, typ: 'JWT' }));
    const payload = base64url.encode(JSON.stringify({ sub: 'x', iat: Math.floor(Date.now() / 1000) }));
    const input = `${header}.${payload}`;
    const sig = joseSign(alg, key.privateKey, new TextEncoder().encode(input));
    const { payload: verified } = await jwtVerify(`${input}.${base64url.encode(sig)}`, await importJWK(key.publicJwk, alg), { algorithms: [alg] });
    expect(verified.sub).toBe('x');
  });
});
