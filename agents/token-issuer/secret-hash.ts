import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';
import { Slots } from '../shared/slots.js';

/** scrypt cost: N=2^15, r=8, p=1 (≈32 MiB, tens of milliseconds): what OWASP suggests for secrets at rest. */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
const ENCODED = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;

/** Secret checks that may wait, per thread they may use (each wait is one scrypt, tens of milliseconds). */
const WAITING_PER_SLOT = 16;

/**
 * scrypt runs on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise), as do
 * KeyManager's RSA signatures: a flood of wrong secrets may hold half of the pool, never all of it,
 * so token signing keeps going meanwhile (a pool of one thread cannot be split; run with at least 2).
 * Past a bounded waiting line, a check is refused with SECRET_CHECKS_BUSY rather than queued.
 */
export const scryptSlots = secretCheckSlots(Math.max(1, Math.floor(threadPoolSize() / 2)));

function secretCheckSlots(size: number): Slots {
  return new Slots(size, {
    maxWaiting: size * WAITING_PER_SLOT,
    whenFull: () =>
      new KeyturnError('SECRET_CHECKS_BUSY', 'too many client secret checks are waiting; this one was not made', 'Retry in a second; if it persists, look for a flood of failed client authentications.'),
  });
}

/** The pool size as libuv reads it (atoi, then clamped): 4 when unset, 1 for 0 or no number, at most 1024 (a negative wraps to it). */
export function threadPoolSize(raw = process.env.UV_THREADPOOL_SIZE): number {
  if (raw === undefined) return 4;
  const n = Number.parseInt(raw, 10);
  if (!Number.isFinite(n) || n === 0) return 1;
  return n < 0 || n > 1024 ? 1024 : n;
}

function derive(secret: string, salt: Buffer, N: number, r: number, p: number, length: number, signal?: AbortSignal): Promise<Buffer> {
  const opts: ScryptOptions = { N, r, p, maxmem: 256 * N * r + 1024 * 1024 };
  return scryptSlots.run(
    () =>
      new Promise((resolve, reject) => {
        scrypt(secret.normalize('NFC'), salt, length, opts, (err, key) => (err ? reject(err) : resolve(key)));
      }),
    signal,
  );
}

/** `scrypt$N$r$p$salt$hash` with a fresh random 16-byte salt (base64url salt and hash). */
export async function hashSecret(secret: string): Promise<string> {
  const { N, r, p } = SCRYPT_PARAMS;
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(secret, salt, N, r, p, HASH_BYTES);
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/**
 * True when `secret` hashes to `encoded`; compared with timingSafeEqual. A malformed or
 * unreasonably expensive encoding is simply false (after a full-cost hash, to keep timing flat).
 * With `signal`, a check still waiting for a thread when it aborts is not made (rejects with its reason).
 */
export async function verifySecret(secret: string, encoded: string, o: { signal?: AbortSignal } = {}): Promise<boolean> {
  const m = ENCODED.exec(encoded);
  const [N, r, p] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  const sane = m !== null && N >= 2 ** 14 && N <= 2 ** 20 && (N & (N - 1)) === 0 && r >= 1 && r <= 32 && p >= 1 && p <= 16;
  const expected = sane ? Buffer.from(m[5]!, 'base64url') : Buffer.alloc(HASH_BYTES);
  const salt = sane ? Buffer.from(m[4]!, 'base64url') : Buffer.alloc(SALT_BYTES);
  const { N: n0, r: r0, p: p0 } = SCRYPT_PARAMS;
  const actual = sane ? await derive(secret, salt, N, r, p, expected.length || HASH_BYTES, o.signal) : await derive(secret, salt, n0, r0, p0, HASH_BYTES, o.signal);
  return sane && actual.length === expected.length && timingSafeEqual(actual, expected);
}

let dummy: Promise<string> | undefined;

/** A valid hash of a random secret nobody knows: unknown clients are checked against it, costing what a real check costs. */
export function dummyHash(): Promise<string> {
  // A refused computation (the waiting line was full) is not kept: the next check tries again.
  dummy ??= hashSecret(randomBytes(32).toString('base64url')).catch((e: unknown) => {
    dummy = undefined;
    throw e;
  });
  return dummy;
}
