import { describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../agents/key-manager/keygen.js';
import { joseSignOffThread } from '../../agents/key-manager/signer.js';
import { hashSecret, verifySecret } from '../../agents/token-issuer/secret-hash.js';

// RSA signatures and scrypt share libuv's thread pool; scrypt may hold only part of it.
describe('the thread pool under a flood of wrong client secrets', () => {
  it('an RS256 signature is ready before any of 8 concurrent wrong-secret checks finishes', async () => {
    const key = await generateSigningKey('RS256');
    const stored = await hashSecret('the right secret');
    const finished: string[] = [];
    const checks = Array.from({ length: 8 }, () => verifySecret('a wrong secret', stored).then(() => finished.push('scrypt')));
    await new Promise((resolve) => setImmediate(resolve));
    await joseSignOffThread('RS256', key.privateKey, Buffer.from('header.payload')).then(() => finished.push('signed'));
    await Promise.all(checks);
    expect(finished[0]).toBe('signed');
    expect(finished).toHaveLength(9);
  });
});
