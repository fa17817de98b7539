import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, exportJWK, type JWK, type JWTVerifyGetKey } from 'jose';
import type { SigningAlgorithm } from '../../agents/planner/policy-types.js';
import { fixedClock } from '../../agents/shared/clock.js';
import { createValidator } from '../../agents/validator/index.js';
import type { Validator } from '../../agents/validator/types.js';
import type { AttackKeys } from './attack-corpus.js';
import { ATTACK_ALGORITHMS } from './attack-corpus.js';
import type { KeySet } from './differential-oracle.js';
import { AUDIENCE, defaultClaims, ISSUER, joseSignature, MAX_AGE, SKEW, T0, testKey, type TestKey } from './support.js';

/** Every algorithm keyturn supports. */
export const ALL_ALGORITHMS: readonly SigningAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];

export interface DiffKeys extends AttackKeys {
  /** RSA 2048, published for RS256. */
  rs: TestKey;
  /** A second RSA 2048 key, published for PS256 (an 'rsa' KeyObject, so it can also sign RS256). */
  ps: TestKey;
  ec2: TestKey;
  ed: TestKey;
  /** Never published: signs "foreign" EdDSA tokens. */
  ed2: TestKey;
  /** RSA 1024: below both keyturn's and jose's minimum. */
  weak: TestKey;
}

/** All keys, generated in parallel (RSA generation dominates: about a second on two cores). */
export async function diffKeys(): Promise<DiffKeys> {
  const weakPair = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const [rs, ps, ec, ec2, attacker, ed, ed2, weak] = await Promise.all([
    testKey('RS256'),
    testKey('RS256').then((k): TestKey => ({ ...k, alg: 'PS256', publicJwk: { ...k.publicJwk, alg: 'PS256' } })),
    testKey('ES256'),
    testKey('ES256'),
    testKey('ES256'),
    testKey('EdDSA'),
    testKey('EdDSA'),
    exportJWK(weakPair.publicKey).then((jwk): TestKey => ({ alg: 'RS256', kid: 'weak', ...weakPair, publicJwk: { ...jwk, use: 'sig', alg: 'RS256', kid: 'weak' } })),
  ]);
  return { rs, ps, ec, ec2, attacker, ed, ed2, weak, rsa: rs, attackerJwk: await exportJWK(attacker.publicKey) };
}

/** One published JWK and the private key that signs for it. */
export interface Entry {
  kid: string;
  signer: TestKey;
  jwk: JWK;
}

/** A key set, a policy, and the long-lived verifiers of it: keyturn (static keys and remote JWKS) and jose. */
export interface Scenario extends KeySet {
  name: string;
  entries: Entry[];
  jose: JWTVerifyGetKey;
  validators: ReadonlyArray<readonly [string, Validator]>;
}

/** The time every validator reads; each comparison sets it, and jose gets the same currentDate. */
export const clock = fixedClock(T0);

/** `k`'s public JWK under `kid`, with members replaced (undefined removes one). */
function entry(k: TestKey, kid: string, members: Record<string, unknown> = {}): Entry {
  const jwk: Record<string, unknown> = { ...k.publicJwk, kid, ...members };
  for (const [m, v] of Object.entries(jwk)) if (v === undefined) delete jwk[m];
  return { kid, signer: k, jwk: jwk as JWK };
}

const privateJwk = (k: TestKey) => k.privateKey.export({ format: 'jwk' }) as Record<string, unknown>;

function scenario(name: string, policy: readonly SigningAlgorithm[], entries: Entry[]): Scenario {
  const jwks = entries.map((e) => e.jwk);
  const options = { issuer: ISSUER, audience: AUDIENCE, algorithms: [...policy], clockSkewSeconds: SKEW, maxTokenAgeSeconds: MAX_AGE, clock };
  const body = JSON.stringify({ keys: jwks });
  const fetchJwks = (async () => new Response(body, { status: 200, headers: { 'content-type': 'application/jwk-set+json', 'cache-control': 'max-age=86400' } })) as typeof fetch;
  return {
    name,
    policy,
    jwks,
    entries,
    jose: createLocalJWKSet({ keys: structuredClone(jwks) }),
    validators: [
      ['static keys', createValidator({ ...options, keys: structuredClone(jwks) })],
      ['remote JWKS', createValidator({ ...options, jwksUri: 'https://jwks.keyturn.test/jwks', fetch: fetchJwks })],
    ],
  };
}

/**
 * The key sets compared, each with validators that live for the whole file (so warm caches are
 * compared too). Kids are descriptive; a kid appearing twice is deliberate.
 */
export function scenarios(k: DiffKeys): Scenario[] {
  const { rs, ps, ec, ec2, ed, weak } = k;
  const { d, p, q, dp, dq, qi } = privateJwk(rs);
  return [
    scenario('published keys (use sig, alg, kid)', ALL_ALGORITHMS, [entry(rs, 'rs'), entry(ps, 'ps'), entry(ec, 'ec'), entry(ed, 'ed'), entry(weak, 'weak')]),
    scenario('bare metadata (no use; EC and OKP without alg)', ALL_ALGORITHMS, [
      entry(rs, 'rs-no-use', { use: undefined }),
      entry(ec, 'ec-bare', { use: undefined, alg: undefined }),
      entry(ed, 'ed-bare', { use: undefined, alg: undefined }),
    ]),
    scenario('key_ops variants', ALL_ALGORITHMS, [
      entry(ec, 'ops-verify', { key_ops: ['verify'] }),
      entry(ec2, 'ops-sign', { key_ops: ['sign'] }),
      entry(ed, 'ops-string', { key_ops: 'verify' }),
      entry(rs, 'ops-empty', { key_ops: [] }),
      entry(ps, 'ops-verify-sign', { key_ops: ['verify', 'sign'] }),
      entry(ec, 'ops-verify-twice', { key_ops: ['verify', 'verify'] }),
      entry(ec2, 'ops-non-string', { key_ops: ['verify', 1] }),
    ]),
    scenario('ext variants', ALL_ALGORITHMS, [
      entry(ec, 'ext-true', { ext: true }),
      entry(ec2, 'ext-false', { ext: false }),
      entry(ed, 'ext-yes', { ext: 'yes' }),
      entry(rs, 'ext-null', { ext: null }),
    ]),
    scenario('use variants', ALL_ALGORITHMS, [
      entry(ec, 'use-sig', { use: 'sig' }),
      entry(ec2, 'use-enc', { use: 'enc' }),
      entry(ed, 'use-SIG', { use: 'SIG' }),
      entry(rs, 'use-null', { use: null }),
    ]),
    scenario('alg member variants', ALL_ALGORITHMS, [
      entry(ec, 'alg-es384-on-p256', { alg: 'ES384' }),
      entry(rs, 'alg-absent-rsa', { alg: undefined }),
      entry(ps, 'alg-rs256-on-pss-key', { alg: 'RS256' }),
      entry(ed, 'alg-ed25519', { alg: 'Ed25519' }),
      entry(ec2, 'alg-absent-ec', { alg: undefined }),
    ]),
    scenario('private members', ALL_ALGORITHMS, [
      entry(ec, 'priv-ec-d', { d: privateJwk(ec).d }),
      entry(rs, 'priv-rsa-all', { d, p, q, dp, dq, qi }),
      entry(ps, 'priv-rsa-pq', { p, q }),
      entry(ec2, 'priv-ec-k', { k: 'c2VjcmV0' }),
      entry(ed, 'priv-okp-d', { d: privateJwk(ed).d }),
    ]),
    scenario('two keys sharing one kid', ALL_ALGORITHMS, [
      entry(ec, 'shared-sig-enc'),
      entry(ec, 'shared-sig-enc', { use: 'enc' }),
      entry(rs, 'shared-rsa-ec'),
      entry(ec2, 'shared-rsa-ec'),
      entry(ed, 'shared-twins'),
      entry(ed, 'shared-twins'),
      entry(ec2, 'shared-sign-only'),
      entry(ec, 'shared-sign-only', { key_ops: ['sign'] }),
    ]),
    scenario('a kid shared with a key only jose considers', ALL_ALGORITHMS, [
      entry(ps, 'shared-private-copy'),
      entry(ps, 'shared-private-copy', { d, p, q, dp, dq, qi }),
      entry(rs, 'shared-rsa-no-alg'),
      entry(rs, 'shared-rsa-no-alg', { alg: undefined }),
      entry(rs, 'shared-weak'),
      entry(weak, 'shared-weak'),
      entry(ec, 'shared-duplicate-ops'),
      entry(ec2, 'shared-duplicate-ops', { key_ops: ['verify', 'verify'] }),
    ]),
    scenario('policy ES256 only', ['ES256'], [entry(rs, 'rs'), entry(ec, 'ec'), entry(ed, 'ed'), entry(rs, 'narrow-shared'), entry(ec2, 'narrow-shared')]),
    scenario('attack corpus keys', ATTACK_ALGORITHMS, [entry(rs, rs.kid), entry(ec, ec.kid)]),
  ];
}

/** The algorithm a token for this entry is normally signed with: the JWK's RSA alg, else the key's. */
export function naturalAlg(e: Entry): SigningAlgorithm {
  return e.signer.alg === 'RS256' || e.signer.alg === 'PS256' ? (e.jwk.alg === 'PS256' ? 'PS256' : 'RS256') : e.signer.alg;
}

/** Another key of the same type that the entry's JWK does not describe. */
export function foreignOf(k: DiffKeys, signer: TestKey): TestKey {
  if (signer === k.rs) return k.ps;
  if (signer.alg === 'RS256' || signer.alg === 'PS256') return k.rs;
  return signer.alg === 'EdDSA' ? k.ed2 : k.attacker;
}

export const b64url = (v: Buffer | string): string => Buffer.from(v).toString('base64url');

/** A compact JWS over these exact header and payload bytes. */
export function signRaw(signer: TestKey, alg: SigningAlgorithm, header: Buffer | string, payload: Buffer | string): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${joseSignature(alg, signer.privateKey, input).toString('base64url')}`;
}

export interface MintSpec {
  /** Sign with this algorithm (default: the entry's natural one); it is also the header's alg unless `header` sets one. */
  alg?: SigningAlgorithm;
  /** Sign with another key of the same type (the kid still names the entry's key). */
  foreign?: boolean;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
}

export function mint(k: DiffKeys, e: Entry, spec: MintSpec = {}): string {
  const alg = spec.alg ?? naturalAlg(e);
  const header = { alg, kid: e.kid, typ: 'at+jwt', ...spec.header };
  const claims = { ...defaultClaims(), ...spec.claims };
  return signRaw(spec.foreign ? foreignOf(k, e.signer) : e.signer, alg, JSON.stringify(header), JSON.stringify(claims));
}
