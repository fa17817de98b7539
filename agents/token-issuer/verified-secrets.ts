import { createHmac, randomBytes } from 'node:crypto';
import { setBounded } from '../shared/bounded-map.js';

interface Remembered {
  storedHash: string;
  expires: number;
}

/**
 * Client credentials that passed the scrypt check recently, so a client presenting them again is not
 * made to pay (nor made to make the server pay) another scrypt hash. Each entry is keyed by a keyed
 * fingerprint of (client id, secret) and holds the stored hash the secret matched: callers use it
 * only while that is still the client's hash (authenticateClient compares it with the row it reads;
 * token issuance has the commit compare it), so rotating the secret ends it at once. Only correct
 * credentials get in, so a guess never takes the fast path. Bounded; oldest entries go first.
 */
export class VerifiedSecretCache {
  readonly #key = randomBytes(32);
  readonly #entries = new Map<string, Remembered>();

  constructor(private readonly o: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}) {}

  /** The stored hash these credentials matched, while they are remembered. */
  storedHashFor(clientId: string, secret: string): string | undefined {
    const fingerprint = this.#fingerprint(clientId, secret);
    const entry = this.#entries.get(fingerprint);
    if (entry === undefined) return undefined;
    if (entry.expires > this.now()) return entry.storedHash;
    this.#entries.delete(fingerprint);
    return undefined;
  }

  /** After `secret` verified against `storedHash` with scrypt. */
  remember(clientId: string, secret: string, storedHash: string): void {
    const fingerprint = this.#fingerprint(clientId, secret);
    this.#entries.delete(fingerprint);
    setBounded(this.#entries, fingerprint, { storedHash, expires: this.now() + (this.o.ttlMs ?? 5 * 60_000) }, this.o.maxEntries ?? 10_000);
  }

  forget(clientId: string, secret: string): void {
    this.#entries.delete(this.#fingerprint(clientId, secret));
  }

  get size(): number {
    return this.#entries.size;
  }

  /** NFC, as scrypt sees the secret: spellings that hash alike share one entry. */
  #fingerprint(clientId: string, secret: string): string {
    return createHmac('sha256', this.#key).update(clientId).update('\0').update(secret.normalize('NFC')).digest('base64url');
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }
}
