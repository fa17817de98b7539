import { reject } from './errors.js';

export interface ClaimRules {
  issuer: string;
  audience: string;
  clockSkewSeconds: number;
  maxTokenAgeSeconds: number;
}

export interface CheckedClaims {
  iss: string;
  sub?: string;
  jti: string;
  exp: number;
  iat: number;
}

const MAX_JTI_LENGTH = 256;

const isNumericDate = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * The claim rules, `now` in seconds since the epoch:
 * - iss: exactly our issuer (a string; an array never matches);
 * - aud: our audience, or an array of strings containing it;
 * - exp: required, finite, after now - skew, and no further ahead than now + maxTokenAge + skew;
 * - nbf (optional): not after now + skew;
 * - iat: required, finite, not after now + skew, not older than maxTokenAge (+ skew);
 * - jti: required non-empty string.
 */
export function checkClaims(c: Record<string, unknown>, r: ClaimRules, now: number): CheckedClaims {
  const skew = r.clockSkewSeconds;
  // "Not yet" is judged in whole seconds, as jose does: a fraction of the current second never lets a
  // token in early. exp and the maximum age use the exact time, which is the stricter reading there.
  const wholeNow = Math.floor(now);
  if (typeof c.iss !== 'string' || c.iss !== r.issuer) reject('ISS_MISMATCH', 'token iss is not the expected issuer');
  const aud = c.aud;
  const audOk = typeof aud === 'string' ? aud === r.audience : Array.isArray(aud) && aud.every((a) => typeof a === 'string') && aud.includes(r.audience);
  if (!audOk) reject('AUD_MISMATCH', 'token aud does not include this audience');

  if (!Object.hasOwn(c, 'exp')) reject('EXP_MISSING', 'token has no exp');
  const exp = c.exp;
  if (!isNumericDate(exp) || exp > now + r.maxTokenAgeSeconds + skew) reject('EXP_INVALID', 'token exp is not a plausible NumericDate');
  if (exp <= now - skew) reject('EXPIRED', 'token has expired');

  if (Object.hasOwn(c, 'nbf')) {
    if (!isNumericDate(c.nbf)) reject('NBF_INVALID', 'token nbf is not a NumericDate');
    if (c.nbf > wholeNow + skew) reject('NBF_IN_FUTURE', 'token is not valid yet (nbf)');
  }

  if (!Object.hasOwn(c, 'iat')) reject('IAT_MISSING', 'token has no iat');
  const iat = c.iat;
  if (!isNumericDate(iat)) reject('IAT_INVALID', 'token iat is not a NumericDate');
  if (iat > wholeNow + skew) reject('IAT_IN_FUTURE', 'token iat is in the future');
  if (now - iat - skew > r.maxTokenAgeSeconds) reject('TOKEN_TOO_OLD', 'token is older than the maximum token age');

  if (!Object.hasOwn(c, 'jti')) reject('JTI_MISSING', 'token has no jti');
  const jti = c.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) reject('JTI_INVALID', 'token jti must be a non-empty string');

  const out: CheckedClaims = { iss: c.iss, jti, exp, iat };
  if (typeof c.sub === 'string') out.sub = c.sub;
  return out;
}
