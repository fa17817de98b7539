import { generateKeyPairSync } from 'node:crypto';
import type { JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { buildKeyMap, importVerificationKey } from './keys.js';

const ec = { ...(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as JWK), kid: 'ec1' };
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }) as JWK;

describe('importVerificationKey', () => {
  it('imports an EC P-256 key as ES256 even without alg', () => expect(importVerificationKey(ec, ['ES256'])?.alg).toBe('ES256'));
  it('ignores a key whose algorithm the policy does not allow', () => expect(importVerificationKey(ec, ['RS256'])).toBeUndefined());
  it('ignores an RSA key that does not say RS256 or PS256', () => expect(importVerificationKey({ ...rsa, kid: 'r' }, ['RS256', 'PS256'])).toBeUndefined());
  it('ignores a symmetric (oct) key, so HS* can never verify', () => {
    expect(importVerificationKey({ kty: 'oct', k: 'c2VjcmV0', kid: 'h', alg: 'HS256' } as JWK, ['RS256', 'ES256'])).toBeUndefined();
  });
  it('ignores an encryption key (use enc)', () => expect(importVerificationKey({ ...ec, use: 'enc' }, ['ES256'])).toBeUndefined());
  it('ignores an RSA key under 2048 bits', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }) as JWK;
    expect(importVerificationKey({ ...small, kid: 's', alg: 'RS256' }, ['RS256'])).toBeUndefined();
  });
  it('ignores a key whose alg contradicts its curve', () => expect(importVerificationKey({ ...ec, alg: 'EdDSA' }, ['ES256', 'EdDSA'])).toBeUndefined());
  it('ignores a key whose kid is outside [A-Za-z0-9_-]', () => expect(importVerificationKey({ ...ec, kid: '../x' }, ['ES256'])).toBeUndefined());
  it('ignores a key whose key_ops do not include verify', () => expect(importVerificationKey({ ...ec, key_ops: ['sign'] }, ['ES256'])).toBeUndefined());
  it('ignores key_ops that are not an array of distinct strings', () => {
    expect(importVerificationKey({ ...ec, key_ops: 'verify' } as unknown as JWK, ['ES256'])).toBeUndefined();
    expect(importVerificationKey({ ...ec, key_ops: ['verify', 'verify'] }, ['ES256'])).toBeUndefined();
  });
  it('imports a key whose key_ops are verify', () => expect(importVerificationKey({ ...ec, key_ops: ['verify'] }, ['ES256'])?.alg).toBe('ES256'));
  it('ignores a public key whose key_ops claim more than verify', () => expect(importVerificationKey({ ...ec, key_ops: ['verify', 'sign'] }, ['ES256'])).toBeUndefined());
  it('ignores a key whose ext is not a boolean', () => expect(importVerificationKey({ ...ec, ext: 'yes' } as unknown as JWK, ['ES256'])).toBeUndefined());
  it('ignores a key published with its private member d: whoever reads the set can sign with it', () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const leaked = { ...(pair.privateKey.export({ format: 'jwk' }) as JWK), kid: 'leak' };
    expect(importVerificationKey(leaked, ['ES256'])).toBeUndefined();
  });
});

describe('buildKeyMap', () => {
  it('drops a kid that appears twice rather than guessing between the keys', () => {
    const other = { ...(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as JWK), kid: 'ec1' };
    expect(buildKeyMap([ec, other], ['ES256']).has('ec1')).toBe(false);
  });
  it('keeps a kid that an unusable key (use enc) shares with a signing key', () => {
    expect(buildKeyMap([ec, { ...ec, use: 'enc' }], ['ES256']).has('ec1')).toBe(true);
  });
  it('drops a kid that a JWK unusable here would also claim for the same algorithm (a private copy, an RSA key without alg)', () => {
    const rs = { ...rsa, kid: 'r1', alg: 'RS256' };
    expect(buildKeyMap([rs, { ...rs, d: 'AQAB' }], ['RS256']).has('r1')).toBe(false);
    expect(buildKeyMap([rs, { ...rs, alg: undefined }], ['RS256']).has('r1')).toBe(false);
  });
  it('drops a key whose key_ops stop allowing verify at the next refresh', () => {
    const first = buildKeyMap([ec], ['ES256']);
    expect(buildKeyMap([{ ...ec, key_ops: ['encrypt'] }], ['ES256'], first).has('ec1')).toBe(false);
  });
  it('reuses an already imported KeyObject for an unchanged key', () => {
    const first = buildKeyMap([ec], ['ES256']);
    expect(buildKeyMap([ec], ['ES256'], first).get('ec1')).toBe(first.get('ec1'));
  });
});
