import { generateKeyPair, jwtVerify } from 'jose';
import { KeyObject, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SigningHandle } from '../key-manager/types.js';
import { signCompact, unverifiedPayload } from './jws.js';

/** A test-local handle over a jose-generated key (unit tests only; integration tests use KeyManager). */
async function localHandle(): Promise<{ handle: SigningHandle; publicKey: Awaited<ReturnType<typeof generateKeyPair>>['publicKey'] }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const key = KeyObject.from(privateKey);
  return { handle: { kid: 'k1', alg: 'ES256', issuer: 'https://iss.test', sign: async (input) => sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' }) }, publicKey };
}

describe('signCompact', () => {
  it('produces a compact JWS that jose verifies, with the header and payload given', async () => {
    const { handle, publicKey } = await localHandle();
    const token = await signCompact(handle, { alg: 'ES256', typ: 'at+jwt', kid: 'k1' }, { iss: 'https://iss.test', sub: 'svc', exp: 4_000_000_000 });
    const { payload, protectedHeader } = await jwtVerify(token, publicKey, { typ: 'at+jwt' });
    expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' });
    expect(payload).toEqual({ iss: 'https://iss.test', sub: 'svc', exp: 4_000_000_000 });
  });
});

describe('unverifiedPayload', () => {
  it('reads the payload object of a compact JWS and nothing else', () => {
    const p = Buffer.from('{"jti":"j"}').toString('base64url');
    expect(unverifiedPayload(`x.${p}.y`)).toEqual({ jti: 'j' });
    expect(unverifiedPayload('garbage')).toBeUndefined();
    expect(unverifiedPayload(`x.${Buffer.from('[1]').toString('base64url')}.y`)).toBeUndefined();
  });
});
