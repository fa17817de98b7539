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
 * again on every verify. Bounded: the oldest entries go first; only authentic tokens get in.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, VerifiedSignature>();

  constructor(private readonly maxEntries: number) {}

  get enabled(): boolean {
    return this.maxEntries > 0;
  }

  get(token: string): VerifiedSignature | undefined {
    return this.entries.get(token);
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
