import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { IssuerPolicy } from '../planner/policy-types.js';
import { CANARY_AUDIENCE } from '../shared/canary.js';
import { checkCanaries } from './canary.js';

const ISSUER = 'https://issuer.canary.test';
const policy = { issuer: ISSUER, audiences: ['https://api.example.test'], algorithm: 'ES256', clockSkewSeconds: 30 } as IssuerPolicy;
let sign: (aud: string) => Promise<string>;
let jwk: JWK;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  jwk = { ...(await exportJWK(publicKey)), kid: 'new-key', alg: 'ES256', use: 'sig' };
  sign = (aud) => new SignJWT({ sub: 'keyturn:canary' }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'new-key' }).setIssuer(ISSUER).setAudience(aud).setIssuedAt().setExpirationTime('5m').setJti(`j-${aud}`).sign(privateKey);
});

const check = (canaryToken: string) =>
  checkCanaries({ policy, jwksUrl: 'https://issuer.canary.test/jwks', expectedNewKid: 'new-key', canaryToken, previousToken: null, fetchImpl: async () => Response.json({ keys: [jwk] }) });

describe('the rotation canary check', () => {
  it('passes a canary for the canary audience, signed by the new key the JWKS serves', async () => {
    expect(await check(await sign(CANARY_AUDIENCE))).toEqual({ ok: true, failures: [] });
  });

  it("passes a canary minted before canaries had their own audience (a run in flight across the upgrade)", async () => {
    expect(await check(await sign(policy.audiences[0]!))).toEqual({ ok: true, failures: [] });
  });

  it('fails a token for any other audience', async () => {
    expect((await check(await sign('https://elsewhere.example'))).ok).toBe(false);
  });
});
