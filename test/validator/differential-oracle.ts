import { createPublicKey } from 'node:crypto';
import type { JWK } from 'jose';
import type { SigningAlgorithm } from '../../agents/planner/policy-types.js';
import { KID_PATTERN } from '../../agents/validator/keys.js';
import { MAX_AGE, SKEW } from './support.js';

/**
 * The oracle of the differential test. jose's jwtVerify, configured as keyturn is, decides; keyturn
 * must decide the same, except where one of the rules below says keyturn deliberately refuses what
 * jose accepts. Each rule names the keyturn code that documents it. Nothing here makes keyturn
 * accept what jose refuses: there is no such rule.
 */

/** JWK members that only a private (or symmetric) key has. */
export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** keyturn's limits (validator.ts and strict-json.ts defaults). */
const MAX_TOKEN_CHARS = 8192;
const MAX_HEADER_CHARS = 2048;
const MAX_JSON_DEPTH = 32;
const MAX_JTI_LENGTH = 256;

export interface KeySet {
  policy: readonly SigningAlgorithm[];
  jwks: readonly JWK[];
}

/** jose's createLocalJWKSet candidate filter (jose/dist/webapi/jwks/local.js isUsableJWK), for one header alg and kid. */
export function joseCandidates(jwks: readonly JWK[], alg: unknown, kid: unknown): JWK[] {
  const kty = { RS256: 'RSA', PS256: 'RSA', ES256: 'EC', EdDSA: 'OKP' }[String(alg)];
  const crv = { ES256: 'P-256', EdDSA: 'Ed25519' }[String(alg)];
  if (kty === undefined) return [];
  return jwks.filter((j) => {
    const ops: unknown = j.key_ops;
    const opsOk = ops === undefined || (Array.isArray(ops) && ops.every((o, i) => typeof o === 'string' && ops.indexOf(o) === i) && ops.includes('verify'));
    return (
      (j.ext === undefined || typeof j.ext === 'boolean') &&
      opsOk &&
      j.kty === kty &&
      (kid === undefined || (typeof kid === 'string' && kid === j.kid)) &&
      (j.alg === undefined || j.alg === alg) &&
      (j.use === undefined || j.use === 'sig') &&
      (crv === undefined || j.crv === crv)
    );
  });
}

const rsaBits = (j: JWK): number => {
  try {
    return createPublicKey({ key: { kty: 'RSA', n: j.n, e: j.e }, format: 'jwk' }).asymmetricKeyDetails?.modulusLength ?? 0;
  } catch {
    return 0;
  }
};

/**
 * Whether keyturn counts this JWK when it decides that a kid is ambiguous (keys.ts describedKey): a
 * supported kty with string public members and a well-formed kid; use absent or "sig"; key_ops absent
 * or distinct strings including "verify"; ext absent or a boolean; no private members; an algorithm in
 * policy (an RSA key must name RS256 or PS256; EC P-256 and OKP Ed25519 imply ES256 and EdDSA, and may
 * say so). A too-small RSA key counts here although it is never imported.
 */
export function keyturnUses(j: JWK, policy: readonly SigningAlgorithm[]): boolean {
  const r = j as Record<string, unknown>;
  if (typeof j.kid !== 'string' || !KID_PATTERN.test(j.kid)) return false;
  if (j.use !== undefined && j.use !== 'sig') return false;
  const ops: unknown = j.key_ops;
  if (ops !== undefined && !(Array.isArray(ops) && ops.every((o, i) => typeof o === 'string' && ops.indexOf(o) === i) && ops.includes('verify'))) return false;
  if (j.ext !== undefined && typeof j.ext !== 'boolean') return false;
  if (PRIVATE_MEMBERS.some((m) => Object.hasOwn(r, m))) return false;
  const members = { RSA: ['n', 'e'], EC: ['crv', 'x', 'y'], OKP: ['crv', 'x'] }[String(j.kty)];
  if (!members || !members.every((m) => typeof r[m] === 'string')) return false;
  const alg: SigningAlgorithm | undefined =
    j.kty === 'RSA' ? (j.alg === 'RS256' ? 'RS256' : j.alg === 'PS256' ? 'PS256' : undefined)
    : j.kty === 'EC' && j.crv === 'P-256' && (j.alg === undefined || j.alg === 'ES256') ? 'ES256'
    : j.kty === 'OKP' && j.crv === 'Ed25519' && (j.alg === undefined || j.alg === 'EdDSA') ? 'EdDSA'
    : undefined;
  return alg !== undefined && policy.includes(alg);
}

/** Strict base64url as RFC 7515 §2 has it: URL-safe alphabet, no padding, the one canonical spelling. */
const canonical = (seg: string) => /^[A-Za-z0-9_-]*$/.test(seg) && Buffer.from(seg, 'base64url').toString('base64url') === seg;

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** A JSON text as jose reads it (fatal UTF-8 that strips a BOM, then JSON.parse), or undefined when jose cannot. */
function joseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * What a strict reader objects to in JSON text that JSON.parse accepts: a member name twice in one
 * object, a member named "__proto__" (however it is spelled), and the deepest nesting (the top-level
 * value is depth 0). Written independently of keyturn's parser so the two can disagree.
 */
export function jsonFindings(text: string): { duplicate: boolean; proto: boolean; depth: number } {
  let i = 0;
  let duplicate = false;
  let proto = false;
  let depth = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const string = (): string => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (d: number): void => {
    depth = Math.max(depth, d);
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      const names = new Set<string>();
      i++;
      ws();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (c === '{') {
          ws();
          const name = string();
          if (names.has(name)) duplicate = true;
          if (name === '__proto__') proto = true;
          names.add(name);
          ws();
          i++; // ':'
        }
        value(d + 1);
        ws();
        if (text[i++] === close) return;
      }
    }
    if (c === '"') {
      string();
      return;
    }
    while (i < text.length && /[-+.0-9a-zA-Z]/.test(text[i]!)) i++;
  };
  value(0);
  return { duplicate, proto, depth };
}

/** The strict-JSON rules keyturn applies to the header and to the claims (strict-json.ts, compact.ts). */
function strictJsonRule(bytes: Buffer, what: string): string | undefined {
  if (joseJson(bytes) === undefined) return undefined; // jose refuses it too
  // compact.ts decodes with ignoreBOM: true, so a BOM stays and is not JSON; jose's TextDecoder strips it.
  if (bytes.subarray(0, 3).equals(BOM)) return `${what}: a UTF-8 BOM before the JSON text is refused`;
  const f = jsonFindings(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  if (f.duplicate) return `${what}: duplicate member names are refused (DUPLICATE_JSON_KEY)`;
  if (f.proto) return `${what}: a "__proto__" member is refused (PROTO_POLLUTION)`;
  if (f.depth > MAX_JSON_DEPTH) return `${what}: JSON nested deeper than ${MAX_JSON_DEPTH} is refused`;
  return undefined;
}

const sigLength = (j: JWK): number => (j.kty === 'RSA' ? Math.ceil(rsaBits(j) / 8) : 64);

/**
 * The rule under which keyturn deliberately refuses token `t` although jose (configured with the
 * same issuer, audience, policy algorithms, typ at+jwt, skew, max age, required exp/iat/jti and
 * current time) may accept it; undefined when none applies and keyturn must decide as jose does.
 * `at` is the current time: jose reads it in whole seconds, keyturn to the millisecond where that is
 * the stricter reading (claims.ts).
 */
export function stricterRule(t: string, keys: KeySet, at: Date): string | undefined {
  const exactNow = at.getTime() / 1000;
  const wholeNow = Math.floor(exactNow);
  // validator.ts: size caps before any parsing.
  if (t.length > MAX_TOKEN_CHARS) return `a token longer than ${MAX_TOKEN_CHARS} characters is refused (TOKEN_TOO_LARGE)`;
  const firstDot = t.indexOf('.');
  if (firstDot > MAX_HEADER_CHARS || (firstDot < 0 && t.length > MAX_HEADER_CHARS)) return `a header segment longer than ${MAX_HEADER_CHARS} is refused (TOKEN_HEADER_TOO_LARGE)`;
  const segs = t.split('.');
  if (segs.length !== 3) return undefined;
  // base64url.ts: jose decodes with atob, which takes padding, whitespace and non-zero trailing bits.
  if (!segs.every(canonical)) return 'non-canonical base64url is refused (TOKEN_MALFORMED)';
  const [hBytes, pBytes, sig] = segs.map((s) => Buffer.from(s, 'base64url')) as [Buffer, Buffer, Buffer];
  const headerRule = strictJsonRule(hBytes, 'header');
  if (headerRule) return headerRule;
  const h = joseJson(hBytes);
  if (!isObject(h)) return undefined;

  // header.ts: members that carry or locate keys, critical extensions and b64 are refused outright.
  for (const m of ['jwk', 'jku', 'x5u', 'x5c']) if (Object.hasOwn(h, m)) return `header member "${m}" is refused`;
  if (Object.hasOwn(h, 'crit')) return 'header crit is refused (HEADER_CRIT_UNSUPPORTED)';
  if (Object.hasOwn(h, 'b64') && h.b64 !== true) return 'header b64 other than true is refused (HEADER_B64_FALSE)';
  // header.ts: jose picks the only candidate key when there is no kid.
  if (typeof h.kid !== 'string' || !KID_PATTERN.test(h.kid)) return 'a well-formed kid is required (KID_MISSING / KID_INVALID)';

  // keys.ts: a kid naming two keys keyturn uses is ambiguous; jose filters by alg first and may find one.
  if (keys.jwks.filter((j) => j.kid === h.kid && keyturnUses(j, keys.policy)).length > 1) return 'a kid naming two usable keys is refused (KID_UNKNOWN)';
  const candidates = joseCandidates(keys.jwks, h.alg, h.kid);
  const used = candidates.length === 1 ? candidates[0]! : undefined;
  if (used) {
    // keys.ts algOf: "RSA keys must say"; jose lets an RSA JWK without alg verify RS256 and PS256 alike.
    if (used.kty === 'RSA' && used.alg === undefined) return 'an RSA JWK without alg is not used';
    // keys.ts (fix 1): a JWK with private members is refused; jose refuses only one with d.
    const priv = PRIVATE_MEMBERS.filter((m) => Object.hasOwn(used, m));
    if (priv.length > 0) return `a JWK carrying private members (${priv.join(', ')}) is not used`;
    // signature.ts: RFC 8017 signatures are exactly the modulus length; OpenSSL's RSA-PSS also takes a shorter one.
    if (sig.length !== sigLength(used)) return 'a signature not exactly the key length is refused (SIGNATURE_INVALID)';
  }

  const claimsRule = strictJsonRule(pBytes, 'claims');
  if (claimsRule) return claimsRule;
  const c = joseJson(pBytes);
  if (!isObject(c)) return undefined;
  // claims.ts: exp no further ahead than the maximum token age (keyturn's own rule, at the exact time).
  if (typeof c.exp === 'number' && !(c.exp <= exactNow + MAX_AGE + SKEW)) return 'exp beyond now + max token age + skew is refused (EXP_INVALID)';
  // claims.ts: "exp and the maximum age use the exact time, which is the stricter reading there"; jose uses the whole second.
  if (typeof c.exp === 'number' && c.exp > wholeNow - SKEW && c.exp <= exactNow - SKEW) return 'exp is judged against the exact time, not the whole second (EXPIRED)';
  if (typeof c.iat === 'number' && !(wholeNow - c.iat - SKEW > MAX_AGE) && exactNow - c.iat - SKEW > MAX_AGE) return 'the maximum age is judged against the exact time, not the whole second (TOKEN_TOO_OLD)';
  // claims.ts: NumericDates finite; jti a bounded string; aud strings.
  if (typeof c.nbf === 'number' && !Number.isFinite(c.nbf)) return 'a non-finite nbf (1e400) is refused (NBF_INVALID)';
  if (typeof c.jti !== 'string' || c.jti.length === 0 || c.jti.length > MAX_JTI_LENGTH) return `jti must be a string of 1..${MAX_JTI_LENGTH} characters (JTI_INVALID)`;
  if (Array.isArray(c.aud) && !c.aud.every((a) => typeof a === 'string')) return 'aud array members must all be strings (AUD_MISMATCH)';
  return undefined;
}
