import { describe, expect, it, vi } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { dummyHash, hashSecret, scryptSlots, threadPoolSize, verifySecret } from './secret-hash.js';

describe('secret hashing', () => {
  it('encodes scrypt$N$r$p$salt$hash with N=2^15, r=8, p=1 and a 16-byte salt', async () => {
    const [, n, r, p, salt, hash] = (await hashSecret('s3cret')).split('$');
    expect([n, r, p]).toEqual(['32768', '8', '1']);
    expect(Buffer.from(salt!, 'base64url')).toHaveLength(16);
    expect(Buffer.from(hash!, 'base64url')).toHaveLength(32);
  });

  it('salts every hash: the same secret hashes differently twice', async () => {
    expect(await hashSecret('same')).not.toBe(await hashSecret('same'));
  });

  it('verifies the right secret and refuses a wrong one', async () => {
    const h = await hashSecret('right');
    expect(await verifySecret('right', h)).toBe(true);
    expect(await verifySecret('wrong', h)).toBe(false);
  });

  it('refuses a malformed or absurdly expensive encoding instead of throwing', async () => {
    expect(await verifySecret('x', 'plain-text-secret')).toBe(false);
    expect(await verifySecret('x', 'scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAA')).toBe(false);
  });

  it('the dummy hash is a real hash that no guessable secret matches', async () => {
    const d = await dummyHash();
    expect(d).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await verifySecret('', d)).toBe(false);
  });

  describe('with every slot and waiting place taken', () => {
    /** Runs `during` with `slots` full, then lets them drain. */
    const withLineFull = async <T>(slots: typeof scryptSlots, during: () => Promise<T>): Promise<T> => {
      let open!: () => void;
      const held = new Promise<void>((resolve) => (open = resolve));
      const holders = Array.from({ length: slots.size + slots.maxWaiting }, () => slots.run(() => held));
      try {
        return await during();
      } finally {
        open();
        await Promise.all(holders);
      }
    };

    it('a secret check is refused with SECRET_CHECKS_BUSY, and the next one after the line drains is made', async () => {
      const h = await hashSecret('right');
      const refused = await withLineFull(scryptSlots, () => verifySecret('right', h).catch((e: unknown) => e));
      expect(isKeyturnError(refused, 'SECRET_CHECKS_BUSY')).toBe(true);
      expect(await verifySecret('right', h)).toBe(true);
    });

    it('a refused dummy hash is not kept: the next call computes it', async () => {
      vi.resetModules();
      const fresh = await import('./secret-hash.js');
      const refused = await withLineFull(fresh.scryptSlots, () => fresh.dummyHash().catch((e: unknown) => e));
      // A fresh module graph has its own KeyturnError class: compare the code, not the class.
      expect((refused as { code?: unknown }).code).toBe('SECRET_CHECKS_BUSY');
      expect(await fresh.dummyHash()).toMatch(/^scrypt\$32768\$8\$1\$/);
    });
  });

  it.each([
    [undefined, 4],
    ['8', 8],
    ['0', 1],
    ['none', 1],
    ['12threads', 12],
    ['5000', 1024],
    ['-1', 1024],
  ])('reads UV_THREADPOOL_SIZE=%s as libuv does: %d threads', (raw, threads) => {
    expect(threadPoolSize(raw)).toBe(threads);
  });
});
