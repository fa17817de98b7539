import type { VerificationKey } from './keys.js';
import { setBounded } from '../shared/bounded-map.js';

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
  /**
   * First verifications, by fingerprint, in two generations of half the bound each: when the newer
   * fills, the older is dropped whole. Evicting one entry at a time from a Set costs microseconds
   * per cold token (V8 skips the tombstones of earlier deletions to find the oldest), and holding
   * the token strings themselves kept every one-off token alive through garbage collections.
   */
  private onceNewer = new Set<number>();
  private onceOlder = new Set<number>();

  constructor(private readonly maxEntries: number) {}

  get(token: string): VerifiedSignature | undefined {
    return this.entries.get(token);
  }

  /** After a full verification: whether this token verified before and should now be remembered. */
  admit(token: string): boolean {
    if (this.maxEntries <= 0) return false;
    const seen = fingerprint(token);
    if (this.onceNewer.delete(seen) || this.onceOlder.delete(seen)) return true;
    if (this.onceNewer.size >= Math.max(1, this.maxEntries >> 1)) {
      this.onceOlder = this.onceNewer;
      this.onceNewer = new Set();
    }
    this.onceNewer.add(seen);
    return false;
  }

  set(token: string, entry: VerifiedSignature): void {
    if (this.maxEntries <= 0) return;
    setBounded(this.entries, token, entry, this.maxEntries);
  }

  delete(token: string): void {
    this.entries.delete(token);
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * A 32-bit hash of a token's last characters (its signature). Only admission uses it, after the
 * token verified in full: a collision makes a token remembered one verification early and never
 * skips a check, because remembered entries are keyed by the whole token.
 */
function fingerprint(token: string): number {
  let h = 0;
  for (let i = Math.max(0, token.length - 10); i < token.length; i++) h = (Math.imul(h, 31) + token.charCodeAt(i)) | 0;
  return h;
}
