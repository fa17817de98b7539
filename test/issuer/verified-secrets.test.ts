import { afterAll, describe, expect, it, vi } from 'vitest';
import { authenticateClient, disableClient, rotateSecret } from '../../agents/token-issuer/clients.js';
import * as secretHash from '../../agents/token-issuer/secret-hash.js';
import { VerifiedSecretCache } from '../../agents/token-issuer/verified-secrets.js';
import { testPool } from '../support/db.js';
import { client } from './support.js';

const pool = testPool();
afterAll(() => pool.end());

describe('client authentication with remembered credentials', () => {
  it('hashes a client\'s correct secret once, then accepts it again without scrypt', async () => {
    const { clientId, secret } = await client(pool);
    const cache = new VerifiedSecretCache();
    const spy = vi.spyOn(secretHash, 'verifySecret');
    try {
      expect((await authenticateClient(pool, clientId, secret, { verified: cache })).ok).toBe(true);
      expect((await authenticateClient(pool, clientId, secret, { verified: cache })).ok).toBe(true);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('never remembers a wrong secret: every guess pays the full hash', async () => {
    const { clientId, secret } = await client(pool);
    const cache = new VerifiedSecretCache();
    const spy = vi.spyOn(secretHash, 'verifySecret');
    try {
      for (let i = 0; i < 2; i++) expect(await authenticateClient(pool, clientId, `${secret}x`, { verified: cache })).toEqual({ ok: false, reason: 'bad_secret' });
      expect(spy).toHaveBeenCalledTimes(2);
      expect(cache.size).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses a remembered client once it is disabled', async () => {
    const { clientId, secret } = await client(pool);
    const cache = new VerifiedSecretCache();
    await authenticateClient(pool, clientId, secret, { verified: cache });
    await disableClient(pool, clientId);
    expect(await authenticateClient(pool, clientId, secret, { verified: cache })).toEqual({ ok: false, reason: 'disabled' });
  });

  it('refuses a remembered secret once the client\'s secret is rotated', async () => {
    const { clientId, secret } = await client(pool);
    const cache = new VerifiedSecretCache();
    await authenticateClient(pool, clientId, secret, { verified: cache });
    await rotateSecret(pool, clientId);
    expect(await authenticateClient(pool, clientId, secret, { verified: cache })).toEqual({ ok: false, reason: 'bad_secret' });
  });

  it('forgets a remembered client once it is disabled, and never remembers a disabled client\'s secret', async () => {
    const { clientId, secret } = await client(pool);
    const cache = new VerifiedSecretCache();
    await authenticateClient(pool, clientId, secret, { verified: cache });
    await disableClient(pool, clientId);
    await authenticateClient(pool, clientId, secret, { verified: cache });
    expect(cache.storedHashFor(clientId, secret)).toBeUndefined();
    await authenticateClient(pool, clientId, secret, { verified: cache });
    expect(cache.storedHashFor(clientId, secret)).toBeUndefined();
  });

  it('refuses a remembered secret rotated away without paying a hash', async () => {
    const { clientId, secret } = await client(pool);
    const cache = new VerifiedSecretCache();
    await authenticateClient(pool, clientId, secret, { verified: cache });
    await rotateSecret(pool, clientId);
    const spy = vi.spyOn(secretHash, 'verifySecret');
    try {
      expect(await authenticateClient(pool, clientId, secret, { verified: cache })).toEqual({ ok: false, reason: 'bad_secret' });
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('remembers the stored hash a secret matched, for that client id and secret only', () => {
    const cache = new VerifiedSecretCache();
    cache.remember('billing', 's3cret', 'hash-1');
    expect([cache.storedHashFor('billing', 's3cret'), cache.storedHashFor('billing', 's3cretx'), cache.storedHashFor('other', 's3cret')]).toEqual(['hash-1', undefined, undefined]);
  });

  it('forgets credentials after their time to live', () => {
    let now = 0;
    const cache = new VerifiedSecretCache({ ttlMs: 1000, now: () => now });
    cache.remember('billing', 's3cret', 'hash-1');
    now = 1001;
    expect([cache.storedHashFor('billing', 's3cret'), cache.size]).toEqual([undefined, 0]);
  });

  it('holds at most its bound, dropping the oldest first', () => {
    const cache = new VerifiedSecretCache({ maxEntries: 2 });
    for (const id of ['a', 'b', 'c']) cache.remember(id, 's', `hash-${id}`);
    expect([cache.size, cache.storedHashFor('a', 's'), cache.storedHashFor('c', 's')]).toEqual([2, undefined, 'hash-c']);
  });

  it('drops remembered credentials that no longer match the stored hash', async () => {
    const { clientId, secret } = await client(pool);
    const cache = new VerifiedSecretCache();
    await authenticateClient(pool, clientId, secret, { verified: cache });
    await rotateSecret(pool, clientId);
    await authenticateClient(pool, clientId, secret, { verified: cache });
    expect(cache.storedHashFor(clientId, secret)).toBeUndefined();
  });
});
