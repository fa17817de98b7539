import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { VerificationKey } from './keys.js';
import { verifySignature } from './signature.js';

const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const key: VerificationKey = { kid: 'k', alg: 'ES256', key: pair.publicKey };
const input = Buffer.from('a.b');
const good = sign('sha256', input, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' });
const N = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');

describe('verifySignature (ES256)', () => {
  it('accepts a valid raw r||s signature', () => expect(verifySignature(key, input, good)).toBe(true));
  it('refuses a DER-encoded signature', () => {
    expect(verifySignature(key, input, sign('sha256', input, pair.privateKey))).toBe(false);
  });
  it('refuses r = n (out of range), whatever s', () => expect(verifySignature(key, input, Buffer.concat([N, good.subarray(32)]))).toBe(false));
  it('refuses s = 0', () => expect(verifySignature(key, input, Buffer.concat([good.subarray(0, 32), Buffer.alloc(32)]))).toBe(false));
  it('refuses a 65-byte signature', () => expect(verifySignature(key, input, Buffer.concat([good, Buffer.alloc(1)]))).toBe(false));
});

describe('verifySignature (RSA)', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sig = sign('sha256', input, rsa.privateKey);
  it('refuses an RS256 signature with a leading zero byte added', () => {
    expect(verifySignature({ kid: 'r', alg: 'RS256', key: rsa.publicKey }, input, Buffer.concat([Buffer.alloc(1), sig]))).toBe(false);
  });
  it('refuses an RS256 signature under a PS256 key entry', () => {
    expect(verifySignature({ kid: 'r', alg: 'PS256', key: rsa.publicKey }, input, sig)).toBe(false);
  });
});
