import fc from 'fast-check';
import { jwtVerify, type JWTVerifyResult } from 'jose';
import { describe, expect, it } from 'vitest';
import type { SigningAlgorithm } from '../../agents/planner/policy-types.js';
import { TokenRejected } from '../../agents/validator/errors.js';
import { attackCorpus } from './attack-corpus.js';
import { stricterRule } from './differential-oracle.js';
import { clock, diffKeys, mint, naturalAlg, scenarios, signRaw, type Entry, type MintSpec, type Scenario } from './differential-fixtures.js';
import { AUDIENCE, defaultClaims, ISSUER, MAX_AGE, NOW, SKEW, T0 } from './support.js';

/**
 * Differential test: keyturn's validator and jose's jwtVerify, configured alike, must reach the same
 * decision on every token: random, mutated, re-signed with odd JSON, under many JWK sets, at
 * sub-second times. Where keyturn is deliberately stricter, differential-oracle.ts `stricterRule`
 * states the rule, and keyturn must then refuse; everywhere else both must agree, and for an accepted
 * token keyturn must return exactly jose's claims and header.
 *
 * Each token is verified three times on long-lived validators (a token is remembered on its second
 * verify, and header segments after their first), by static keys and by a remote JWKS, and every
 * one of those six decisions is compared with jose's.
 *
 * Deterministic: fast-check runs with a fixed seed (DIFF_SEED overrides it; a failure prints the seed
 * and the shrunk counterexample). Keys are fresh each run, so signatures differ, decisions do not.
 */
const SEED = Number(process.env.DIFF_SEED ?? 20_260_601);
const runs = (numRuns: number) => ({ seed: SEED, numRuns });

// Keys and validators at collection time: the corpus and the key sets name one test each.
const keys = await diffKeys();
const sets = scenarios(keys);
const published = sets[0]!;
const corpusKeys = sets.find((s) => s.name === 'attack corpus keys')!;
const corpus = attackCorpus(keys);

interface Tally {
  accepted: number;
  rejected: number;
  stricter: number;
}
const newTally = (): Tally => ({ accepted: 0, rejected: 0, stricter: 0 });

/** jose's verdict at `at`: the result, or why it refused. */
async function jose(t: string, s: Scenario, at: Date): Promise<JWTVerifyResult | string> {
  try {
    return await jwtVerify(t, s.jose, {
      algorithms: [...s.policy],
      issuer: ISSUER,
      audience: AUDIENCE,
      typ: 'at+jwt',
      clockTolerance: SKEW,
      maxTokenAge: MAX_AGE,
      requiredClaims: ['exp', 'iat', 'jti'],
      currentDate: at,
    });
  } catch (e) {
    // Not every refusal is a JOSEError: WebCrypto's DOMException has a numeric code.
    const code = (e as { code?: unknown } | null)?.code;
    return typeof code === 'string' ? code : `${(e as Error | null)?.name ?? 'error'}: ${(e as Error | null)?.message ?? String(e)}`;
  }
}

/** JSON with sorted member names and -0 spelled out: equal exactly when two parsed values are. */
function canonical(v: unknown): string {
  if (Object.is(v, -0)) return '-0';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

const shown = (t: string) => (t.length > 400 ? `${t.slice(0, 400)}… (${t.length} chars)` : t);

/**
 * Verifies `t` `rounds` times with each of the scenario's validators at time `at`, and requires
 * each decision to be jose's (or a refusal under a stated stricter rule), with jose's claims.
 */
async function sameDecision(t: string, s: Scenario, at: Date, tally: Tally, rounds = 3): Promise<void> {
  clock.set(at);
  const theirs = await jose(t, s, at);
  const rule = stricterRule(t, s, at);
  const expected = typeof theirs !== 'string' && rule === undefined;
  if (typeof theirs !== 'string' && rule !== undefined) tally.stricter++;
  tally[expected ? 'accepted' : 'rejected']++;
  for (const [via, validator] of s.validators) {
    for (let round = 1; round <= rounds; round++) {
      const ours = await validator.verify(t).catch((e: unknown) => {
        if (e instanceof TokenRejected) return e;
        throw e;
      });
      const context =
        `[${s.name}, ${via}, verify #${round}, at ${at.toISOString()}] jose ${typeof theirs === 'string' ? `refuses (${theirs})` : 'accepts'}, ` +
        `stricter rule: ${rule ?? 'none'}, keyturn ${ours instanceof TokenRejected ? `refuses (${ours.code})` : 'accepts'}\ntoken: ${shown(t)}`;
      expect(ours instanceof TokenRejected ? false : true, context).toBe(expected);
      if (ours instanceof TokenRejected) {
        expect(ours.code, `keyturn failed internally: ${context}`).not.toBe('VALIDATOR_ERROR');
      } else if (typeof theirs !== 'string') {
        expect(canonical(ours.claims), context).toBe(canonical(theirs.payload));
        expect(canonical(ours.header), context).toBe(canonical(theirs.protectedHeader));
        const { iss, jti, exp, iat, sub } = theirs.payload;
        expect({ iss: ours.iss, jti: ours.jti, exp: ours.exp, iat: ours.iat, sub: ours.sub }, context).toStrictEqual({ iss, jti, exp, iat, sub: typeof sub === 'string' ? sub : undefined });
      }
    }
  }
}

// ——— generators ———

/** A moment within three seconds after T0, to the millisecond: jose reads it as a whole second, keyturn must too. */
const moment = fc.integer({ min: 0, max: 2999 }).map((ms) => new Date(T0.getTime() + ms));

/** NumericDates: fractions around every boundary (±skew, max age, exp's ceiling) and random millisecond values. */
const boundaries = [NOW - SKEW, NOW + SKEW, NOW - MAX_AGE - SKEW, NOW + MAX_AGE + SKEW];
const fractions = [-1, -0.5, -0.001, 0, 0.001, 0.25, 0.5, 0.999, 1, 1.5, 2.25, 2.999, 3];
const numericDate = fc.oneof(
  fc.constantFrom(...boundaries.flatMap((b) => fractions.map((f) => b + f))),
  fc.integer({ min: -4_000_000, max: 4_000_000 }).map((ms) => NOW + ms / 1000),
);

/** Interesting values for a header member or claim; undefined deletes it. */
const values = fc.oneof(
  numericDate,
  fc.constantFrom<unknown>(
    undefined, null, true, false, 0, -1, 1.5, '', 'x', [], {}, ['x'], 1e20, -1e20, String(NOW),
    ISSUER, [ISSUER], `${ISSUER}/`, AUDIENCE, [AUDIENCE], ['other', AUDIENCE], [AUDIENCE, 5], [[AUDIENCE]], 'other',
    'ES256', 'RS256', 'PS256', 'EdDSA', 'Ed25519', 'ES384', 'HS256', 'none', 'es256',
    'at+jwt', 'AT+JWT', 'application/at+jwt', 'Application/AT+JWT', 'JWT', 'jwt', 'x/at+jwt', 'at+jwt/',
    'https://127.0.0.1:9/x', ['b64'], ['exp'], 'a'.repeat(256), 'a'.repeat(257), 'rs', 'ec', 'shared-rsa-ec', 'shared-sig-enc', '../x',
  ),
);

const headerMembers = fc.constantFrom('alg', 'kid', 'typ', 'crit', 'b64', 'jku', 'x5c', 'cty', 'zip', 'use');
const claimNames = fc.constantFrom('iss', 'aud', 'exp', 'nbf', 'iat', 'jti', 'sub');

const pick = <T,>(xs: readonly T[], i: number): T => xs[i % xs.length]!;

/** A key set and one of its entries (shown by name in counterexamples). */
const target = fc.record({ s: fc.nat(), e: fc.nat() }).map(({ s, e }) => {
  const set = pick(sets, s);
  const entry = pick(set.entries, e);
  return { set, entry, [fc.toStringMethod]: () => `key set "${set.name}", kid ${entry.kid}` };
});

/** How a token is signed: its entry's algorithm or the other RSA one, by the entry's key or a foreign one. */
const seldom = fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 });
const signing = fc.record({ swap: seldom, foreign: seldom });
function specFor(e: Entry, how: { swap: boolean; foreign: boolean }, more: MintSpec = {}): MintSpec {
  const alg = naturalAlg(e);
  const swapped: SigningAlgorithm = alg === 'RS256' ? 'PS256' : alg === 'PS256' ? 'RS256' : alg;
  return { alg: how.swap ? swapped : alg, foreign: how.foreign, ...more };
}

const edits = fc.array(
  fc.oneof(
    fc.record({ where: fc.constant('header' as const), name: headerMembers, value: values }),
    fc.record({ where: fc.constant('claims' as const), name: claimNames, value: values }),
  ),
  { maxLength: 3 },
);
const toSpec = (es: ReadonlyArray<{ where: 'header' | 'claims'; name: string; value: unknown }>): MintSpec => {
  const header: Record<string, unknown> = {};
  const claims: Record<string, unknown> = {};
  for (const e of es) (e.where === 'header' ? header : claims)[e.name] = e.value;
  return { header, claims };
};

// ——— raw JSON mutations (re-signed with the real key) ———

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const members = (text: string) => Object.entries(JSON.parse(text) as Record<string, unknown>).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
const addMember = (raw: string) => (text: string) => `${text.slice(0, -1)},${raw}}`;
const setMember = (name: string, raw: string) => (text: string) =>
  `{${[...members(text).filter((m) => !m.startsWith(`${JSON.stringify(name)}:`)), `${JSON.stringify(name)}:${raw}`].join(',')}}`;
const withBytes = (...bytes: number[]) => (text: string) => Buffer.concat([Buffer.from(`${text.slice(0, -1)},"x":"a`), Buffer.from(bytes), Buffer.from('b"}')]);
const nested = (arrays: number) => addMember(`"x":${'['.repeat(arrays)}1${']'.repeat(arrays)}`);
const firstMember = (text: string) => members(text)[0]!;

type Raw = { name: string; on: ReadonlyArray<'header' | 'claims'>; apply: (text: string) => Buffer | string };
const both = ['header', 'claims'] as const;
const RAW_JSON: Raw[] = [
  { name: 'its first member repeated unchanged', on: both, apply: (t) => addMember(firstMember(t))(t) },
  { name: 'its first member repeated with another value last', on: both, apply: (t) => addMember(`${firstMember(t).split(':')[0]}:"x"`)(t) },
  { name: 'its first member repeated with another value first', on: both, apply: (t) => `{${firstMember(t).split(':')[0]}:"x",${t.slice(1)}` },
  { name: 'a member name repeated in an escaped spelling', on: both, apply: (t) => addMember(`"\\u00${firstMember(t).charCodeAt(1).toString(16)}${firstMember(t).split(':')[0]!.slice(2)}:"x"`)(t) },
  { name: 'a "__proto__" member', on: both, apply: addMember('"__proto__":{"admin":true}') },
  { name: 'an escaped "\\u005f_proto__" member', on: both, apply: addMember('"\\u005f_proto__":{"admin":true}') },
  { name: 'a "__proto__" member inside a nested object', on: both, apply: addMember('"x":{"__proto__":1}') },
  { name: 'a "constructor" member', on: both, apply: addMember('"constructor":{"prototype":1}') },
  { name: 'a duplicate inside a nested object', on: both, apply: addMember('"x":{"a":1,"a":2}') },
  { name: 'an empty member name', on: both, apply: addMember('"":1') },
  { name: 'a UTF-8 BOM before the JSON text', on: both, apply: (t) => Buffer.concat([BOM, Buffer.from(t)]) },
  { name: 'a BOM inside a string', on: both, apply: addMember('"x":"\ufeff"') },
  { name: 'invalid UTF-8: a 0xFF byte in a string', on: both, apply: withBytes(0xff) },
  { name: 'invalid UTF-8: an overlong "/" (C0 AF)', on: both, apply: withBytes(0xc0, 0xaf) },
  { name: 'invalid UTF-8: a lone continuation byte', on: both, apply: withBytes(0x80) },
  { name: 'invalid UTF-8: a truncated 3-byte sequence', on: both, apply: withBytes(0xe2, 0x82) },
  { name: 'invalid UTF-8: an encoded surrogate (ED A0 80)', on: both, apply: withBytes(0xed, 0xa0, 0x80) },
  { name: 'valid non-ASCII text', on: both, apply: addMember('"x":"é漢😀"') },
  { name: 'an escaped lone surrogate', on: both, apply: addMember('"x":"\\ud800"') },
  { name: 'a raw tab inside a string', on: both, apply: addMember('"x":"a\tb"') },
  { name: 'a deepest value at depth 32', on: both, apply: nested(31) },
  { name: 'a deepest value at depth 33', on: both, apply: nested(32) },
  { name: 'nesting 1000 deep', on: both, apply: nested(1000) },
  { name: 'whitespace between every token', on: both, apply: (t) => JSON.stringify(JSON.parse(t), null, 2) },
  { name: 'whitespace before and after the object', on: both, apply: (t) => ` \n\t${t}\r\n ` },
  { name: 'trailing characters after the object', on: both, apply: (t) => `${t}x` },
  { name: 'a NUL byte after the object', on: both, apply: (t) => `${t}\0` },
  { name: 'a trailing comma', on: both, apply: (t) => `${t.slice(0, -1)},}` },
  { name: 'single quotes', on: both, apply: (t) => t.replaceAll('"', "'") },
  { name: 'a top-level array', on: both, apply: (t) => `[${t}]` },
  { name: 'a top-level string', on: both, apply: (t) => JSON.stringify(t) },
  { name: 'the literal null', on: both, apply: () => 'null' },
  { name: 'no bytes at all', on: both, apply: () => '' },
  { name: 'a 40-digit integer member', on: both, apply: addMember('"x":1234567890123456789012345678901234567890') },
  { name: 'a -0 member', on: both, apply: addMember('"x":-0') },
  { name: 'exp 1e400 (Infinity)', on: ['claims'], apply: setMember('exp', '1e400') },
  { name: 'exp -1e400', on: ['claims'], apply: setMember('exp', '-1e400') },
  { name: 'nbf 1e400', on: ['claims'], apply: setMember('nbf', '1e400') },
  { name: 'nbf -1e400', on: ['claims'], apply: setMember('nbf', '-1e400') },
  { name: 'iat 1e400', on: ['claims'], apply: setMember('iat', '1e400') },
  { name: 'iat -1e400', on: ['claims'], apply: setMember('iat', '-1e400') },
  { name: 'iat with a fraction written as an exponent', on: ['claims'], apply: setMember('iat', `${(NOW - 10.5) / 1e9}e9`) },
  { name: 'exp with trailing zeros in its fraction', on: ['claims'], apply: setMember('exp', `${NOW + 100}.000`) },
  { name: 'exp with a leading zero', on: ['claims'], apply: setMember('exp', `0${NOW + 100}`) },
  { name: 'exp as a string', on: ['claims'], apply: setMember('exp', `"${NOW + 100}"`) },
  { name: 'iat as a string', on: ['claims'], apply: setMember('iat', `"${NOW}"`) },
  { name: 'nbf as a string', on: ['claims'], apply: setMember('nbf', `"${NOW}"`) },
  { name: 'aud as an array with our audience', on: ['claims'], apply: setMember('aud', JSON.stringify([AUDIENCE])) },
  { name: 'aud as an array with our audience and a number', on: ['claims'], apply: setMember('aud', JSON.stringify([AUDIENCE, 5])) },
  { name: 'aud as an empty array', on: ['claims'], apply: setMember('aud', '[]') },
  { name: 'aud as a nested array', on: ['claims'], apply: setMember('aud', JSON.stringify([[AUDIENCE]])) },
  { name: 'aud null', on: ['claims'], apply: setMember('aud', 'null') },
  { name: 'iss as an array', on: ['claims'], apply: setMember('iss', JSON.stringify([ISSUER])) },
  { name: 'jti as a number', on: ['claims'], apply: setMember('jti', '7') },
  { name: 'jti empty', on: ['claims'], apply: setMember('jti', '""') },
  { name: 'jti of 256 characters', on: ['claims'], apply: setMember('jti', JSON.stringify('j'.repeat(256))) },
  { name: 'jti of 257 characters', on: ['claims'], apply: setMember('jti', JSON.stringify('j'.repeat(257))) },
  { name: 'typ in capitals', on: ['header'], apply: setMember('typ', '"AT+JWT"') },
  { name: 'typ application/at+jwt', on: ['header'], apply: setMember('typ', '"application/at+jwt"') },
  { name: 'typ application/jwt', on: ['header'], apply: setMember('typ', '"application/jwt"') },
  { name: 'kid as a number', on: ['header'], apply: setMember('kid', '1') },
  { name: 'alg in lower case', on: ['header'], apply: (t) => t.replace(/"alg":"([^"]+)"/, (_m, a: string) => `"alg":"${a.toLowerCase()}"`) },
  { name: 'crit ["b64"] with b64 true', on: ['header'], apply: addMember('"crit":["b64"],"b64":true') },
];
const RAW_ROWS = RAW_JSON.flatMap((r) => r.on.map((where) => ({ ...r, where, label: `${where} ${r.name}` })));

// ——— signatures ———

const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const scalar = (b: Buffer) => BigInt(`0x${b.toString('hex') || '0'}`);
const bytes32 = (x: bigint) => Buffer.from(x.toString(16).padStart(64, '0'), 'hex');
const splitToken = (t: string) => {
  const at = t.lastIndexOf('.');
  return { input: t.slice(0, at), sig: Buffer.from(t.slice(at + 1), 'base64url') };
};
const withSig = (t: string, sig: Buffer) => `${splitToken(t).input}.${sig.toString('base64url')}`;
const rs = (sig: Buffer) => ({ r: sig.subarray(0, 32), s: sig.subarray(32) });

const ECDSA_VARIANTS: ReadonlyArray<[string, (sig: Buffer) => Buffer]> = [
  ['(r, n − s): the other valid signature of the same message', (sig) => Buffer.concat([rs(sig).r, bytes32(P256_N - scalar(rs(sig).s))])],
  ['r = 0', (sig) => Buffer.concat([Buffer.alloc(32), rs(sig).s])],
  ['s = 0', (sig) => Buffer.concat([rs(sig).r, Buffer.alloc(32)])],
  ['r = n', (sig) => Buffer.concat([bytes32(P256_N), rs(sig).s])],
  ['s = n', (sig) => Buffer.concat([rs(sig).r, bytes32(P256_N)])],
  ['r = n + 1 (≡ 1)', (sig) => Buffer.concat([bytes32(P256_N + 1n), rs(sig).s])],
  ['r + n when it fits in 32 bytes, else r = 2^256 − 1', (sig) => {
    const r = scalar(rs(sig).r) + P256_N;
    return Buffer.concat([bytes32(r < 2n ** 256n ? r : 2n ** 256n - 1n), rs(sig).s]);
  }],
  ['r and s swapped', (sig) => Buffer.concat([rs(sig).s, rs(sig).r])],
  ['DER (ASN.1) encoding instead of r‖s', (sig) => {
    const int = (x: Buffer) => {
      const v = x.subarray(x.findIndex((b) => b !== 0));
      const body = v[0]! & 0x80 ? Buffer.concat([Buffer.alloc(1), v]) : v;
      return Buffer.concat([Buffer.from([0x02, body.length]), body]);
    };
    const seq = Buffer.concat([int(rs(sig).r), int(rs(sig).s)]);
    return Buffer.concat([Buffer.from([0x30, seq.length]), seq]);
  }],
];

const LENGTH_VARIANTS: ReadonlyArray<[string, (sig: Buffer) => Buffer]> = [
  ['a zero byte appended', (sig) => Buffer.concat([sig, Buffer.alloc(1)])],
  ['a zero byte prepended', (sig) => Buffer.concat([Buffer.alloc(1), sig])],
  ['the last byte dropped', (sig) => sig.subarray(0, -1)],
  ['the first byte dropped', (sig) => sig.subarray(1)],
  ['half of it', (sig) => sig.subarray(0, sig.length >> 1)],
  ['twice over', (sig) => Buffer.concat([sig, sig])],
  ['empty', () => Buffer.alloc(0)],
];

/** A token whose RSA signature starts with a zero byte (about 1 in 256), found by varying the jti. */
function leadingZeroToken(e: Entry, alg: SigningAlgorithm): string {
  for (let i = 0; ; i++) {
    const t = mint(keys, e, { alg, claims: { jti: `zero-${i}` } });
    if (splitToken(t).sig[0] === 0) return t;
  }
}

// ——— byte-level mutations ———

const CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. \n\té';
const char = fc.integer({ min: 0, max: CHARS.length - 1 }).map((i) => CHARS[i]!);
const mutation = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), seg: fc.integer({ min: 0, max: 2 }), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('substitute' as const), at: fc.nat(), c: char }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), c: char }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('segments' as const), how: fc.constantFrom('drop signature', 'repeat payload', 'trailing dot', 'leading dot', 'empty payload', 'header and payload swapped', 'signature only') }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(t: string, m: Mutation): string {
  const p = (at: number) => at % (t.length + 1);
  const [h = '', pl = '', s = ''] = t.split('.');
  switch (m.op) {
    case 'flip': {
      const segs = t.split('.');
      const bytes = Buffer.from(segs[m.seg] ?? '', 'base64url');
      if (bytes.length === 0) return t;
      bytes[m.at % bytes.length]! ^= 1 << m.bit;
      segs[m.seg] = bytes.toString('base64url');
      return segs.join('.');
    }
    case 'substitute':
      return t.slice(0, p(m.at)) + m.c + t.slice(p(m.at) + 1);
    case 'insert':
      return t.slice(0, p(m.at)) + m.c + t.slice(p(m.at));
    case 'delete':
      return t.slice(0, p(m.at)) + t.slice(p(m.at) + m.n);
    case 'truncate':
      return t.slice(0, p(m.at));
    case 'segments':
      return {
        'drop signature': `${h}.${pl}`,
        'repeat payload': `${h}.${pl}.${pl}.${s}`,
        'trailing dot': `${t}.`,
        'leading dot': `.${t}`,
        'empty payload': `${h}..${s}`,
        'header and payload swapped': `${pl}.${h}.${s}`,
        'signature only': s,
      }[m.how];
  }
}

// ——— the tests ———

describe('differential: keyturn validator vs jose jwtVerify', () => {
  describe.each(sets.map((s) => [s.name, s] as const))('key set: %s', (_name, s) => {
    it.each(s.entries.map((e, i) => [e.kid, i, e] as const))(
      'decides as jose on tokens for kid %s (entry %i): its algorithm, the other RSA one, a foreign key, no kid',
      async (_kid, _i, e) => {
        const at = new Date(T0.getTime() + 731);
        for (const swap of [false, true]) for (const foreign of [false, true]) await sameDecision(mint(keys, e, specFor(e, { swap, foreign })), s, at, newTally());
        await sameDecision(mint(keys, e, { header: { kid: undefined } }), s, at, newTally());
      },
    );
  });

  it('decides as jose on re-signed tokens with edited header members and claims, under every key set', async () => {
    const tally = newTally();
    await fc.assert(
      fc.asyncProperty(target, signing, edits, moment, async ({ set, entry }, how, es, at) => {
        await sameDecision(mint(keys, entry, specFor(entry, how, toSpec(es))), set, at, tally);
      }),
      runs(400),
    );
    // Not vacuous: edits produce accepted tokens, refused ones, and ones only keyturn refuses.
    expect(tally.accepted).toBeGreaterThan(20);
    expect(tally.rejected).toBeGreaterThan(20);
    expect(tally.stricter).toBeGreaterThan(5);
  });

  it('decides as jose on fractional exp, nbf and iat around every boundary, at millisecond times', async () => {
    const tally = newTally();
    const times = fc.record({ exp: fc.option(numericDate, { nil: undefined }), nbf: fc.option(numericDate, { nil: undefined }), iat: fc.option(numericDate, { nil: undefined }) });
    await fc.assert(
      fc.asyncProperty(fc.nat(), times, moment, async (e, claims, at) => {
        const present = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
        await sameDecision(mint(keys, pick(published.entries, e), { claims: present }), published, at, tally);
      }),
      runs(400),
    );
    expect(tally.accepted).toBeGreaterThan(40);
    expect(tally.rejected).toBeGreaterThan(40);
  });

  it('decides as jose on a remembered token verified again at later moments (the warm cache rechecks time)', async () => {
    const tally = newTally();
    const claims = fc.record({ exp: numericDate, iat: numericDate });
    await fc.assert(
      fc.asyncProperty(fc.nat(), claims, fc.array(moment, { minLength: 3, maxLength: 3 }), async (e, c, moments) => {
        const t = mint(keys, pick(published.entries, e), { claims: c });
        for (const at of moments) await sameDecision(t, published, at, tally, 1);
      }),
      runs(200),
    );
    expect(tally.accepted).toBeGreaterThan(20);
    expect(tally.rejected).toBeGreaterThan(20);
  });

  it('decides as jose on bit flips, substitutions, insertions, deletions, truncations and re-cut segments', async () => {
    const tally = newTally();
    await fc.assert(
      fc.asyncProperty(target, fc.array(mutation, { minLength: 1, maxLength: 2 }), moment, async ({ set, entry }, ms, at) => {
        await sameDecision(ms.reduce(mutate, mint(keys, entry)), set, at, tally);
      }),
      runs(400),
    );
    expect(tally.rejected).toBeGreaterThan(300);
  });

  it('decides as jose on tokens spliced from the segments of two tokens', async () => {
    const tally = newTally();
    const from = fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()).filter(([a, b, c]) => !(a === b && b === c));
    await fc.assert(
      fc.asyncProperty(target, fc.nat(), edits, from, moment, async ({ set, entry }, other, es, [h, p, s], at) => {
        const a = mint(keys, entry).split('.');
        const b = mint(keys, pick(set.entries, other), toSpec(es)).split('.');
        await sameDecision([(h ? b : a)[0], (p ? b : a)[1], (s ? b : a)[2]].join('.'), set, at, tally);
      }),
      runs(200),
    );
    expect(tally.rejected).toBeGreaterThan(100);
  });

  describe('ECDSA signature variants', () => {
    const ec = published.entries.find((e) => e.kid === 'ec')!;
    it.each(ECDSA_VARIANTS)('decides as jose on %s', async (_name, variant) => {
      const t = mint(keys, ec);
      await sameDecision(withSig(t, variant(splitToken(t).sig)), published, new Date(T0.getTime() + 250), newTally());
    });
  });

  describe('wrong-length signatures', () => {
    const rows = published.entries.filter((e) => e.kid !== 'weak').flatMap((e) => LENGTH_VARIANTS.map(([name, f]) => [`${naturalAlg(e)}: ${name}`, e, f] as const));
    it.each(rows)('decides as jose on %s', async (_name, e, variant) => {
      const t = mint(keys, e);
      await sameDecision(withSig(t, variant(splitToken(t).sig)), published, new Date(T0.getTime() + 250), newTally());
    });
    it.each(['RS256', 'PS256'] as const)('decides as jose on a %s signature whose leading zero byte is dropped', async (alg) => {
      const t = leadingZeroToken(published.entries.find((e) => naturalAlg(e) === alg && e.kid !== 'weak')!, alg);
      await sameDecision(withSig(t, splitToken(t).sig.subarray(1)), published, new Date(T0.getTime() + 250), newTally());
    });
  });

  describe('raw JSON, re-signed with the real key', () => {
    const entries = published.entries.filter((e) => e.kid !== 'weak');
    it.each(RAW_ROWS.map((r) => [r.label, r] as const))('decides as jose on %s', async (_label, row) => {
      for (const e of entries) {
        const header = JSON.stringify({ alg: naturalAlg(e), kid: e.kid, typ: 'at+jwt' });
        const claims = JSON.stringify(defaultClaims());
        const [h, c] = row.where === 'header' ? [row.apply(header), claims] : [header, row.apply(claims)];
        await sameDecision(signRaw(e.signer, naturalAlg(e), h, c), published, new Date(T0.getTime() + 999), newTally());
      }
    });
  });

  describe('the attack corpus', () => {
    it.each(corpus.map((a) => [a.name, a] as const))('decides as jose on the attack: %s', async (_name, a) => {
      await sameDecision(a.token, corpusKeys, new Date(T0.getTime() + 500), newTally());
    });
  });

  it('accepts the plain token of every published key, as jose does (the comparison is not vacuous)', async () => {
    const tally = newTally();
    for (const e of published.entries) await sameDecision(mint(keys, e), published, T0, tally);
    expect(tally.accepted).toBe(published.entries.length - 1); // all but the 1024-bit RSA key
  });
});
