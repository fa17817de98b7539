import type { VerificationKey } from './keys.js';

/** What a full verification established about one exact token string, before its time-bound checks. */
export interface VerifiedSignature {
  key: VerificationKey;
  header: Readonly<Record<string, unknown>>;
  claims: Record<string, unknown>;
  kid: string;
  alg: VerificationKey['alg'];
}

/**
 * Tokens whose signature already verified, by their exact compact form, so a token seen again skips
 * only the signature check. Entries are used only while the kid still resolves to the very same key
 * object; the header rules, claims (exp/nbf against the clock), revocation and single use are checked
 * again on every verify. Bounded: the oldest entries go first; only authentic tokens get in, and
 * only on their second full verification: a token verified once is merely noted, so a stream of
 * tokens that never come back (a busy gateway's long tail) does not churn the cache's memory.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, VerifiedSignature>();
  private readonly verifiedOnce = new Set<string>();

  constructor(private readonly maxEntries: number) {}

  get(token: string): VerifiedSignature | undefined {
    return this.entries.get(token);
  }

  /** After a full verification: whether this token verified before and should now be remembered. */
  admit(token: string): boolean {
    if (this.maxEntries <= 0) return false;
    if (this.verifiedOnce.delete(token)) return true;
    if (this.verifiedOnce.size >= this.maxEntries) this.verifiedOnce.delete(this.verifiedOnce.values().next().value!);
    this.verifiedOnce.add(token);
    return false;
  }

  set(token: string, entry: VerifiedSignature): void {
    if (this.maxEntries <= 0) return;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, entry);
  }

  delete(token: string): void {
    this.entries.delete(token);
  }

  get size(): number {
    return this.entries.size;
  }
}
