import type { SigningAlgorithm } from '../planner/policy-types.js';
import { reject } from './errors.js';
import { deepFreeze } from './deep-freeze.js';
import { KID_PATTERN } from './keys.js';

/** Header members that would let the token choose its own key or key source: refused outright, never fetched. */
const FORBIDDEN: ReadonlyArray<[string, 'HEADER_JWK_FORBIDDEN' | 'HEADER_JKU_FORBIDDEN' | 'HEADER_X5U_FORBIDDEN' | 'HEADER_X5C_FORBIDDEN']> = [
  ['jwk', 'HEADER_JWK_FORBIDDEN'],
  ['jku', 'HEADER_JKU_FORBIDDEN'],
  ['x5u', 'HEADER_X5U_FORBIDDEN'],
  ['x5c', 'HEADER_X5C_FORBIDDEN'],
];

const ACCEPTED_TYP = new Set(['at+jwt', 'application/at+jwt']);

export interface CheckedHeader {
  alg: SigningAlgorithm;
  kid: string;
}

/**
 * The header rules, all before any key is looked up: alg (never none, only from the policy list),
 * no key-carrying or key-locating members, no critical extensions, b64 not false, a well-formed
 * kid, and typ at+jwt (RFC 9068 §4, compared case-insensitively).
 */
export function checkHeader(header: Record<string, unknown>, allowed: readonly SigningAlgorithm[]): CheckedHeader {
  const { alg } = header;
  if (typeof alg !== 'string') reject('TOKEN_MALFORMED', 'token header has no alg');
  if (alg.toLowerCase() === 'none') reject('ALG_NONE', 'unsigned tokens (alg none) are not accepted');
  for (const [member, code] of FORBIDDEN) {
    if (Object.hasOwn(header, member)) reject(code, `token header member "${member}" is not accepted`);
  }
  if (Object.hasOwn(header, 'b64') && header.b64 !== true) reject('HEADER_B64_FALSE', 'unencoded payloads (b64) are not accepted');
  if (Object.hasOwn(header, 'crit')) reject('HEADER_CRIT_UNSUPPORTED', 'no critical header extensions are supported');
  if (!(allowed as readonly string[]).includes(alg)) reject('ALG_NOT_ALLOWED', 'token alg is not allowed by policy');
  const { kid, typ } = header;
  if (kid === undefined) reject('KID_MISSING', 'token header has no kid');
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) reject('KID_INVALID', 'token kid is malformed');
  if (typeof typ !== 'string' || !ACCEPTED_TYP.has(typ.toLowerCase())) reject('TYP_INVALID', 'token typ must be at+jwt');
  return { alg: alg as SigningAlgorithm, kid };
}

export interface CheckedHeaderEntry extends CheckedHeader {
  /** Deep-frozen: one object is shared by every token with these header bytes. */
  header: Readonly<Record<string, unknown>>;
}

/**
 * The outcome of {@link checkHeader} by header segment. Tokens from one key share their header
 * bytes, and the rules are a pure function of those bytes and the policy's algorithm list, so a
 * known segment skips decoding, parsing and checking. Only headers that passed are remembered;
 * at most `maxEntries`, then the memory starts over (a flood of distinct headers costs re-parsing).
 */
export class CheckedHeaders {
  private readonly entries = new Map<string, CheckedHeaderEntry>();
  private readonly headers = new Map<string, Readonly<Record<string, unknown>>>();

  constructor(private readonly allowed: readonly SigningAlgorithm[], private readonly maxEntries = 64) {}

  /** Header segment → parsed header, for parseCompact. */
  get known(): ReadonlyMap<string, Readonly<Record<string, unknown>>> {
    return this.headers;
  }

  check(parts: { headerSegment: string; header: Readonly<Record<string, unknown>> }): CheckedHeaderEntry {
    const hit = this.entries.get(parts.headerSegment);
    if (hit) return hit;
    const { alg, kid } = checkHeader(parts.header, this.allowed);
    const entry: CheckedHeaderEntry = Object.freeze({ alg, kid, header: deepFreeze(parts.header) });
    if (this.entries.size >= this.maxEntries) {
      this.entries.clear();
      this.headers.clear();
    }
    this.entries.set(parts.headerSegment, entry);
    this.headers.set(parts.headerSegment, entry.header);
    return entry;
  }
}
