import { describe, expect, it } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { dummyHash, hashSecret, scryptSlots, verifySecret } from './secret-hash.js';

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

  it('a secret check that would wait behind a full line is refused with SECRET_CHECKS_BUSY, and the next one after it drains is made', async () => {
    const h = await hashSecret('right');
    let open!: () => void;
    const held = new Promise<void>((resolve) => (open = resolve));
    const holders = Array.from({ length: scryptSlots.size + scryptSlots.maxWaiting }, () => scryptSlots.run(() => held));
    const refused = await verifySecret('right', h).catch((e: unknown) => e);
    expect(isKeyturnError(refused, 'SECRET_CHECKS_BUSY')).toBe(true);
    open();
    await Promise.all(holders);
    expect(await verifySecret('right', h)).toBe(true);
  });
});
