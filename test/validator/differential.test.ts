import fc from 'fast-check';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { KID_PATTERN } from '../../agents/validator/keys.js';
import { AUDIENCE, defaultClaims, ISSUER, MAX_AGE, NOW, SKEW, T0, testKey, token, validatorFor, type TestKey } from './support.js';

/**
 * Differential test: our validator and jose jwtVerify, configured equivalently, must reach the same
 * accept/reject decision on random mutations of a valid token. Where keyturn is deliberately
 * stricter than jose, `stricterRules` states the rule and the oracle is "jose accepts AND none of
 * those apply" — so each intended divergence is written down here, and any other one fails.
 */
let key: TestKey;
let other: TestKey;
beforeAll(async () => {
  [key, other] = await Promise.all([testKey('ES256'), testKey('ES256')]);
});

const canonical = (seg: string) => /^[A-Za-z0-9_-]*$/.test(seg) && Buffer.from(seg, 'base64url').toString('base64url') === seg;
const json = (seg: string): Record<string, unknown> | undefined => {
  try {
    const v: unknown = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

/** Rules keyturn enforces and jose (as configured) does not. */
function stricterRules(t: string): string | undefined {
  const segs = t.split('.');
  if (segs.length === 3 && !segs.every(canonical)) return 'non-canonical base64url';
  const h = json(segs[0] ?? '');
  const c = json(segs[1] ?? '');
  if (!h || !c) return undefined;
  for (const m of ['jwk', 'jku', 'x5u', 'x5c', 'crit']) if (m in h) return `header ${m}`;
  if ('b64' in h && h.b64 !== true) return 'b64';
  if (typeof h.kid !== 'string' || !KID_PATTERN.test(h.kid)) return 'kid required'; // jose picks the only key without one
  if (typeof c.exp === 'number' && !(c.exp <= NOW + MAX_AGE + SKEW)) return 'exp beyond the maximum token age';
  if (typeof c.jti !== 'string' || c.jti.length === 0 || c.jti.length > 256) return 'jti must be a non-empty string';
  if (Array.isArray(c.aud) && !c.aud.every((a) => typeof a === 'string')) return 'aud members must be strings';
  return undefined;
}

async function joseAccepts(t: string): Promise<boolean> {
  try {
    await jwtVerify(t, createLocalJWKSet({ keys: [key.publicJwk] }), {
      algorithms: ['ES256'],
      issuer: ISSUER,
      audience: AUDIENCE,
      typ: 'at+jwt',
      clockTolerance: SKEW,
      maxTokenAge: MAX_AGE,
      requiredClaims: ['exp', 'iat', 'jti'],
      currentDate: T0,
    });
    return true;
  } catch {
    return false;
  }
}

async function oursAccepts(t: string): Promise<boolean> {
  return validatorFor([key]).verify(t).then(
    () => true,
    () => false,
  );
}

const tally = { accepted: 0, rejected: 0, stricter: 0 };

async function sameDecision(t: string): Promise<void> {
  const jose = await joseAccepts(t);
  const expected = jose && stricterRules(t) === undefined;
  if (jose && !expected) tally.stricter++;
  tally[expected ? 'accepted' : 'rejected']++;
  expect(await oursAccepts(t), `token ${t} (stricter rule: ${stricterRules(t) ?? 'none'})`).toBe(expected);
}

const segment = fc.integer({ min: 0, max: 2 });

/** Interesting values for a header member or claim; undefined deletes it. */
const values = fc.constantFrom<unknown>(
  undefined, null, true, false, 0, -1, 1.5, '', 'x', [], {}, ['x'], 1e20, -1e20,
  NOW, NOW - SKEW, NOW - SKEW - 1, NOW + SKEW, NOW + SKEW + 1, NOW - MAX_AGE - SKEW, NOW - MAX_AGE - SKEW - 1, NOW + MAX_AGE + SKEW, NOW + MAX_AGE + SKEW + 1,
  String(NOW), ISSUER, [ISSUER], `${ISSUER}/`, AUDIENCE, [AUDIENCE], ['other', AUDIENCE], [AUDIENCE, 5], 'other',
  'ES256', 'RS256', 'PS256', 'EdDSA', 'HS256', 'none', 'es256',
  'at+jwt', 'AT+JWT', 'application/at+jwt', 'JWT', 'jwt', 'x/at+jwt',
  'https://127.0.0.1:9/x', ['b64'], ['exp'],
);

describe('differential: keyturn validator vs jose jwtVerify', () => {
  it('agrees on the unmutated valid token', async () => {
    expect(await joseAccepts(token(key))).toBe(true);
    await sameDecision(token(key));
  });

  it('agrees on bit flips in the decoded bytes of any segment', async () => {
    const base = token(key);
    await fc.assert(
      fc.asyncProperty(segment, fc.nat(), fc.integer({ min: 0, max: 7 }), async (i, at, bit) => {
        const segs = base.split('.');
        const bytes = Buffer.from(segs[i]!, 'base64url');
        bytes[at % bytes.length]! ^= 1 << bit;
        segs[i] = bytes.toString('base64url');
        await sameDecision(segs.join('.'));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees on character substitutions in the encoded segments', async () => {
    const base = token(key);
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. ';
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 0, max: chars.length - 1 }), async (at, c) => {
        const p = at % base.length;
        await sameDecision(base.slice(0, p) + chars[c] + base.slice(p + 1));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees on validly re-signed tokens with edited header members and claims', async () => {
    const headerMembers = fc.constantFrom('alg', 'kid', 'typ', 'crit', 'b64', 'jku', 'cty', 'zip');
    const claimNames = fc.constantFrom('iss', 'aud', 'exp', 'nbf', 'iat', 'jti', 'sub');
    const edit = fc.oneof(
      fc.record({ where: fc.constant('header' as const), name: headerMembers, value: values }),
      fc.record({ where: fc.constant('claims' as const), name: claimNames, value: values }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 3 }), fc.boolean(), async (edits, foreignKey) => {
        const header: Record<string, unknown> = {};
        const claims: Record<string, unknown> = { ...defaultClaims() };
        for (const e of edits) (e.where === 'header' ? header : claims)[e.name] = e.value;
        await sameDecision(token(foreignKey ? { ...other, kid: key.kid } : key, { header, claims }));
      }),
      { numRuns: 500 },
    );
    // Not vacuous: the edits produce accepted tokens, rejected ones, and ones only keyturn refuses.
    expect(tally.accepted).toBeGreaterThan(10);
    expect(tally.rejected).toBeGreaterThan(10);
    expect(tally.stricter).toBeGreaterThan(0);
  });
});
