import { createPublicKey, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import type { SigningAlgorithm } from '../planner/policy-types.js';

/** A verification key, imported once into a KeyObject. */
export interface VerificationKey {
  kid: string;
  alg: SigningAlgorithm;
  key: KeyObject;
}

export const KID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const MIN_RSA_BITS = 2048;

const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
};

/** The algorithm a JWK is for: its `alg` when given (and consistent with its type), else implied by EC/OKP curves. RSA keys must say. */
function algOf(jwk: JWK): SigningAlgorithm | undefined {
  const implied = jwk.kty === 'EC' && jwk.crv === 'P-256' ? 'ES256' : jwk.kty === 'OKP' && jwk.crv === 'Ed25519' ? 'EdDSA' : undefined;
  if (jwk.kty === 'RSA') return jwk.alg === 'RS256' ? 'RS256' : jwk.alg === 'PS256' ? 'PS256' : undefined;
  if (implied === undefined) return undefined;
  return jwk.alg === undefined || jwk.alg === implied ? implied : undefined;
}

/** Members only a private or symmetric key has: a set that publishes one is broken, and its key is anyone's. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** `key_ops` absent or distinct strings that include `verify` (RFC 7517 §4.3); `ext` absent or a boolean. */
function claimsVerify(jwk: JWK): boolean {
  const ops: unknown = jwk.key_ops;
  if (ops !== undefined && !(Array.isArray(ops) && ops.every((op, i) => typeof op === 'string' && ops.indexOf(op) === i) && ops.includes('verify'))) return false;
  return jwk.ext === undefined || typeof jwk.ext === 'boolean';
}

/** As {@link claimsVerify}, and `key_ops` is then exactly `["verify"]`: a public key can do nothing else (WebCrypto, and so jose, refuse one that claims more). */
function usableForVerification(jwk: JWK): boolean {
  return claimsVerify(jwk) && (jwk.key_ops === undefined || jwk.key_ops.length === 1);
}

const KTY_OF: Record<SigningAlgorithm, { kty: string; crv?: string }> = { RS256: { kty: 'RSA' }, PS256: { kty: 'RSA' }, ES256: { kty: 'EC', crv: 'P-256' }, EdDSA: { kty: 'OKP', crv: 'Ed25519' } };

/**
 * Whether a relying party picking keys by kid and alg (as jose does) would also take this JWK for
 * `alg`: the same type and curve, no other `alg`, `use` sig, `key_ops` with verify. Such a JWK makes
 * the kid ambiguous even when it is not usable here (a private copy, an RSA key without `alg`).
 */
function competesFor(jwk: JWK, alg: SigningAlgorithm): boolean {
  const want = KTY_OF[alg];
  if (jwk === null || typeof jwk !== 'object' || jwk.kty !== want.kty || (want.crv !== undefined && jwk.crv !== want.crv)) return false;
  return (jwk.alg === undefined || jwk.alg === alg) && (jwk.use === undefined || jwk.use === 'sig') && claimsVerify(jwk);
}

/**
 * The checks of a JWK that need no import: an object of a supported type with a well-formed kid,
 * `use` absent or `sig`, `key_ops` allowing `verify`, no private member, an algorithm in `allowed`,
 * and its public members as strings.
 */
function describedKey(jwk: JWK, allowed: readonly SigningAlgorithm[]): { kid: string; alg: SigningAlgorithm; bare: Record<string, unknown> } | undefined {
  if (jwk === null || typeof jwk !== 'object') return undefined;
  const members = typeof jwk.kty === 'string' ? PUBLIC_MEMBERS[jwk.kty] : undefined;
  if (!members || typeof jwk.kid !== 'string' || !KID_PATTERN.test(jwk.kid)) return undefined;
  if (jwk.use !== undefined && jwk.use !== 'sig') return undefined;
  if (!usableForVerification(jwk) || PRIVATE_MEMBERS.some((m) => Object.hasOwn(jwk, m))) return undefined;
  const alg = algOf(jwk);
  if (!alg || !allowed.includes(alg)) return undefined;
  const bare: Record<string, unknown> = {};
  for (const m of members) {
    const v = (jwk as Record<string, unknown>)[m];
    if (typeof v !== 'string') return undefined;
    bare[m] = v;
  }
  return { kid: jwk.kid, alg, bare };
}

/**
 * Imports one JWK as a public verification key, or undefined if it is not usable for signature
 * verification here: symmetric (`oct`, so HS* can never verify), `use` other than `sig`, no or
 * malformed kid, an algorithm outside `allowed`, a weak RSA modulus, or material node refuses.
 */
export function importVerificationKey(jwk: JWK, allowed: readonly SigningAlgorithm[]): VerificationKey | undefined {
  const described = describedKey(jwk, allowed);
  if (!described) return undefined;
  const { alg, bare } = described;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: bare as JWK & { kty: string }, format: 'jwk' });
  } catch {
    return undefined;
  }
  if (alg === 'RS256' || alg === 'PS256') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (key.asymmetricKeyType !== 'rsa' || bits < MIN_RSA_BITS) return undefined;
  }
  return { kid: described.kid, alg, key };
}

/**
 * A kid → key map built from a JWK set. A kid whose key is ambiguous is dropped entirely, so tokens
 * under it are refused rather than guessed at: two usable keys share it, or another JWK of it would
 * be taken for the same algorithm by a relying party (see competesFor). A JWK that could never verify
 * that algorithm (`use: enc`, another key type) makes no kid ambiguous.
 */
export function buildKeyMap(jwks: readonly JWK[], allowed: readonly SigningAlgorithm[], previous?: ReadonlyMap<string, VerificationKey>): Map<string, VerificationKey> {
  const out = new Map<string, VerificationKey>();
  const seen = new Map<string, number>();
  const usable = jwks.flatMap((jwk) => {
    const described = describedKey(jwk, allowed);
    return described ? [{ jwk, kid: described.kid, alg: described.alg }] : [];
  });
  for (const { kid } of usable) seen.set(kid, (seen.get(kid) ?? 0) + 1);
  // Every JWK by its kid, once: a set of thousands of keys is still read in one pass.
  const byKid = new Map<string, JWK[]>();
  for (const jwk of jwks) {
    const kid: unknown = (jwk as { kid?: unknown } | null)?.kid;
    if (typeof kid !== 'string' || !seen.has(kid)) continue;
    const group = byKid.get(kid);
    if (group) group.push(jwk);
    else byKid.set(kid, [jwk]);
  }
  for (const { jwk, kid, alg } of usable) {
    if (seen.get(kid) !== 1 || byKid.get(kid)!.some((other) => other !== jwk && competesFor(other, alg))) continue;
    const cached = previous?.get(kid);
    // Only usable JWKs get here: a key whose `use` changed to enc since is not reused, it is gone.
    const imported = cached && sameMaterial(cached, jwk) ? cached : importVerificationKey(jwk, allowed);
    if (imported) out.set(imported.kid, imported);
  }
  return out;
}

/** Whether an already imported key is the one this JWK describes (so it is reused, not re-imported). */
function sameMaterial(k: VerificationKey, jwk: JWK): boolean {
  if (algOf(jwk) !== k.alg) return false;
  const exported = k.key.export({ format: 'jwk' }) as Record<string, unknown>;
  const members = PUBLIC_MEMBERS[String(jwk.kty)] ?? [];
  return members.every((m) => exported[m] === (jwk as Record<string, unknown>)[m]);
}
