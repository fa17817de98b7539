import { createHmac, randomBytes } from 'node:crypto';

/**
 * Client credentials that passed the scrypt check recently, so a client presenting them again is not
 * made to pay (nor made to make the server pay) another scrypt hash. An entry is a keyed fingerprint
 * of (client id, secret, stored hash): rotating the secret changes the stored hash and so ends it,
 * and the client row (disabled or not) is still read on every request. Only correct credentials get
 * in, so a guess never takes the fast path. Bounded; oldest entries go first.
 */
export class VerifiedSecretCache {
  readonly #key = randomBytes(32);
  readonly #expiries = new Map<string, number>();

  constructor(private readonly o: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}) {}

  fingerprint(clientId: string, secret: string, storedHash: string): string {
    return createHmac('sha256', this.#key).update(clientId).update('\0').update(secret).update('\0').update(storedHash).digest('base64url');
  }

  has(fingerprint: string): boolean {
    const expires = this.#expiries.get(fingerprint);
    if (expires === undefined) return false;
    if (expires > this.now()) return true;
    this.#expiries.delete(fingerprint);
    return false;
  }

  add(fingerprint: string): void {
    if (this.#expiries.size >= (this.o.maxEntries ?? 10_000)) this.#expiries.delete(this.#expiries.keys().next().value!);
    this.#expiries.set(fingerprint, this.now() + (this.o.ttlMs ?? 5 * 60_000));
  }

  get size(): number {
    return this.#expiries.size;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }
}
