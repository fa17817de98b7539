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
      expect((await authenticateClient(pool, clientId, secret, cache)).ok).toBe(true);
      expect((await authenticateClient(pool, clientId, secret, cache)).ok).toBe(true);
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
      for (let i = 0; i < 2; i++) expect(await authenticateClient(pool, clientId, `${secret}x`, cache)).toEqual({ ok: false, reason: 'bad_secret' });
      expect(spy).toHaveBeenCalledTimes(2);
      expect(cache.size).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses a remembered client once it is disabled', async () => {
    const { clientId, secret } = await client(pool);
    const cache = new VerifiedSecretCache();
    await authenticateClient(pool, clientId, secret, cache);
    await disableClient(pool, clientId);
    expect(await authenticateClient(pool, clientId, secret, cache)).toEqual({ ok: false, reason: 'disabled' });
  });

  it('refuses a remembered secret once the client\'s secret is rotated', async () => {
    const { clientId, secret } = await client(pool);
    const cache = new VerifiedSecretCache();
    await authenticateClient(pool, clientId, secret, cache);
    await rotateSecret(pool, clientId);
    expect(await authenticateClient(pool, clientId, secret, cache)).toEqual({ ok: false, reason: 'bad_secret' });
  });

  it('forgets credentials after their time to live', async () => {
    let now = 0;
    const cache = new VerifiedSecretCache({ ttlMs: 1000, now: () => now });
    cache.add('fp');
    now = 1001;
    expect(cache.has('fp')).toBe(false);
  });

  it('holds at most its bound, dropping the oldest first', () => {
    const cache = new VerifiedSecretCache({ maxEntries: 2 });
    for (const fp of ['a', 'b', 'c']) cache.add(fp);
    expect([cache.size, cache.has('a'), cache.has('c')]).toEqual([2, false, true]);
  });
});
