import { createRemoteJWKSet, jwtVerify } from 'jose';
import jwt from 'jsonwebtoken';
import { JwksClient } from 'jwks-rsa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SigningAlgorithm } from '../../agents/planner/policy-types.js';
import { AUDIENCE, ISSUER, jwksServer, NOW, SKEW, T0, testKey, token, validatorFor, type LocalServer, type TestKey } from './support.js';

/**
 * Interoperability: tokens keyturn signs (node:crypto, JOSE signature format) verify in the
 * mainstream Node stack a relying party would use, jsonwebtoken + jwks-rsa fetching our JWKS over
 * HTTP; and tokens that stack signs verify in our validator.
 */
const ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const satisfies readonly SigningAlgorithm[];
const keys = {} as Record<(typeof ALGS)[number], TestKey>;
let server: LocalServer;

beforeAll(async () => {
  for (const a of ALGS) keys[a] = await testKey(a);
  server = await jwksServer(() => ALGS.map((a) => keys[a].publicJwk));
});
afterAll(() => server.close());

async function verifyWithJsonwebtoken(t: string, alg: jwt.Algorithm): Promise<jwt.JwtPayload> {
  const client = new JwksClient({ jwksUri: `${server.url}/jwks`, cache: false });
  const getKey: jwt.GetPublicKeyOrSecret = (header, cb) => {
    client.getSigningKey(header.kid).then(
      (k) => cb(null, k.getPublicKey()),
      (e: Error) => cb(e),
    );
  };
  return new Promise((resolve, reject) =>
    jwt.verify(t, getKey, { algorithms: [alg], issuer: ISSUER, audience: AUDIENCE, clockTimestamp: NOW, clockTolerance: SKEW }, (err, payload) =>
      err ? reject(err) : resolve(payload as jwt.JwtPayload),
    ),
  );
}

describe('keyturn-signed tokens verified by jsonwebtoken + jwks-rsa over HTTP', () => {
  for (const alg of ['RS256', 'PS256', 'ES256'] as const) {
    it(`verifies an ${alg} token`, async () => {
      const payload = await verifyWithJsonwebtoken(token(keys[alg], { claims: { jti: `interop-${alg}` } }), alg);
      expect(payload.jti).toBe(`interop-${alg}`);
    });

    it(`rejects an ${alg} token with a flipped signature byte`, async () => {
      const t = token(keys[alg]);
      const i = t.lastIndexOf('.');
      const sig = Buffer.from(t.slice(i + 1), 'base64url');
      sig[5]! ^= 1;
      await expect(verifyWithJsonwebtoken(`${t.slice(0, i)}.${sig.toString('base64url')}`, alg)).rejects.toThrow(/invalid signature/);
    });
  }

  // jsonwebtoken 9 has no EdDSA (its algorithm list and key-type map stop at RS/PS/ES/HS), so there
  // is nothing to test against it; the EdDSA JWKS is checked against jose's remote JWKS below instead.
  it.skip('verifies an EdDSA token (jsonwebtoken 9 does not support EdDSA)', () => {});

  it('verifies an EdDSA token with jose createRemoteJWKSet over HTTP instead', async () => {
    const { payload } = await jwtVerify(token(keys.EdDSA, { claims: { jti: 'interop-eddsa' } }), createRemoteJWKSet(new URL(`${server.url}/jwks`)), {
      algorithms: ['EdDSA'],
      issuer: ISSUER,
      audience: AUDIENCE,
      typ: 'at+jwt',
      currentDate: T0,
    });
    expect(payload.jti).toBe('interop-eddsa');
  });
});

describe('jsonwebtoken-signed tokens verified by keyturn over HTTP', () => {
  for (const alg of ['RS256', 'PS256', 'ES256'] as const) {
    it(`accepts an ${alg} token signed by jsonwebtoken`, async () => {
      const k = keys[alg];
      const t = jwt.sign(
        { iss: ISSUER, aud: AUDIENCE, sub: 'client-1', iat: NOW - 5, exp: NOW + 60, jti: `jwt-${alg}` },
        k.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        { algorithm: alg, keyid: k.kid, header: { alg, typ: 'at+jwt' } },
      );
      const v = validatorFor([k], { keys: undefined, jwksUri: `${server.url}/jwks` });
      await expect(v.verify(t)).resolves.toMatchObject({ jti: `jwt-${alg}`, alg });
    });
  }
});
