import { constants, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createVerifier } from 'fast-jwt';
import { importJWK, jwtVerify } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import type { SigningAlgorithm } from '../agents/planner/policy-types.js';
import { signCompact } from '../agents/token-issuer/jws.js';
import { createValidator } from '../agents/validator/index.js';
import { measureAsync, measurePaired, measureSync, pairedNote, sampleNote } from './measure.js';
import { joinNotes, newJti, tokenClaims } from './sign.js';
import { AUDIENCE, measureHttp, type BenchContext } from './stack.js';
import type { Row } from './table.js';

/** The bare node:crypto verification for `alg`, options bound once: the lower bound of any JWS verifier. */
function rawVerifier(alg: SigningAlgorithm, key: KeyObject): (input: Buffer, sig: Buffer) => boolean {
  switch (alg) {
    case 'RS256':
      return (input, sig) => verify('sha256', input, { key, padding: constants.RSA_PKCS1_PADDING }, sig);
    case 'PS256':
      return (input, sig) => verify('sha256', input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
    case 'ES256':
      return (input, sig) => verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, sig);
    case 'EdDSA':
      return (input, sig) => verify(null, input, key, sig);
  }
}

/** Validation rows for one algorithm; every verifier checks the same keyturn-issued token. */
export async function verifyRows(ctx: BenchContext, alg: SigningAlgorithm): Promise<Row[]> {
  const { stack, timing } = ctx;
  const setup = stack.issuers.get(alg)!;
  const { issuer } = setup;
  const id = (s: string) => `verify/${alg}/${s}`;
  const base = id('raw');
  const rows: Row[] = [];
  const row = (r: Omit<Row, 'group' | 'alg'>) => {
    rows.push({ group: 'Validation', alg, ...r });
    ctx.say(`  ${alg} verify ${r.name}: ${r.opsPerSec === null ? 'n/a' : Math.round(r.opsPerSec)} ops/s`);
  };

  const token = (await stack.tokenIssuer.issue({ issuer, clientId: stack.client.clientId, authentication: 'in-process' })).accessToken;
  const [h, p, s] = token.split('.') as [string, string, string];
  const input = Buffer.from(`${h}.${p}`, 'ascii');
  const sig = Buffer.from(s, 'base64url');
  const publicKey = createPublicKey({ key: setup.publicJwk as JsonWebKey, format: 'jwk' });
  const raw = rawVerifier(alg, publicKey);
  if (!raw(input, sig)) throw new Error(`raw ${alg} verification of a keyturn token failed`);
  const rawM = measureSync(() => raw(input, sig), timing);
  row({ id: base, name: 'node:crypto verify (raw)', opsPerSec: rawM.opsPerSec });

  const joseKey = await importJWK(setup.publicJwk, alg);
  const joseOpts = { issuer, audience: AUDIENCE, algorithms: [alg], typ: 'at+jwt' };
  await jwtVerify(token, joseKey, joseOpts);
  row({ id: id('jose'), name: 'jose jwtVerify', opsPerSec: (await measureAsync(() => jwtVerify(token, joseKey, joseOpts), timing)).opsPerSec, baseline: base });

  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const fast = createVerifier({ key: pem, algorithms: [alg], allowedIss: issuer, allowedAud: AUDIENCE, cache: false });
  fast(token);
  row({ id: id('fast-jwt'), name: 'fast-jwt verify', opsPerSec: measureSync(() => fast(token), timing).opsPerSec, baseline: base });
  const fastCached = createVerifier({ key: pem, algorithms: [alg], allowedIss: issuer, allowedAud: AUDIENCE, cache: true });
  fastCached(token);
  row({ id: id('fast-jwt-cache'), name: 'fast-jwt verify, cache on (same token)', opsPerSec: measureSync(() => fastCached(token), timing).opsPerSec, baseline: base, note: 'peer for the warm row' });

  if (alg === 'EdDSA') {
    row({ id: id('jsonwebtoken'), name: 'jsonwebtoken verify', opsPerSec: null, baseline: base, note: 'jsonwebtoken 9 does not support EdDSA' });
  } else {
    const opts: jsonwebtoken.VerifyOptions = { algorithms: [alg], issuer, audience: AUDIENCE };
    jsonwebtoken.verify(token, publicKey, opts);
    row({ id: id('jsonwebtoken'), name: 'jsonwebtoken verify', opsPerSec: measureSync(() => jsonwebtoken.verify(token, publicKey, opts), timing).opsPerSec, baseline: base });
  }

  // keyturn's Validator as a relying party runs it: JWKS from keyturn's HTTP service (cached after
  // the first fetch), every header/claim check, and the PostgreSQL-backed revocation list.
  const validator = createValidator({
    issuer,
    audience: AUDIENCE,
    algorithms: [alg],
    jwksUri: `${setup.httpUrl}/.well-known/jwks.json?issuer=${encodeURIComponent(issuer)}`,
    clockSkewSeconds: setup.policy.clockSkewSeconds,
    maxTokenAgeSeconds: setup.policy.maxTokenAgeSeconds,
    revocation: stack.revocations,
  });
  let coldPool: string[] = [];
  try {
    await validator.verify(token);
    // Cold: tokens nobody has verified yet, signed beforehand through keyturn's own signing path.
    const pool = await freshTokens(ctx, alg, rawM.opsPerSec);
    coldPool = pool.tokens;
    // The first fifth of the pool warms the cold path up (JIT), so the row measures a running validator.
    const cold = await measurePaired(() => raw(input, sig), (i) => validator.verify(pool.tokens[i]!), timing, { limit: pool.tokens.length, warmupLimit: Math.floor(pool.tokens.length / 5) });
    row({
      id: id('cold'),
      name: 'keyturn createValidator, cold (never-seen token)',
      opsPerSec: cold.subject.opsPerSec,
      baseline: base,
      goal: 0.8,
      pairedRatio: cold.ratio,
      note: joinNotes('all checks + RevocationCache', pairedNote(cold), sampleNote(cold.subject), pool.note),
    });
    const warm = await measurePaired(() => raw(input, sig), () => validator.verify(token), timing);
    row({ id: id('warm'), name: 'keyturn createValidator, warm (same token again)', opsPerSec: warm.subject.opsPerSec, baseline: base, goal: 5, pairedRatio: warm.ratio, note: joinNotes('all checks + RevocationCache', pairedNote(warm)) });
  } finally {
    validator.close();
  }

  const http = await measureHttp(ctx, {
    url: `${setup.httpUrl}/oauth2/introspect`,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: stack.basicAuth },
    body: `token=${token}`,
    expectStatus: [200],
    expectBody: '"active":true',
  });
  row({ id: id('http'), name: 'keyturn POST /oauth2/introspect (HTTP, same token)', opsPerSec: http.opsPerSec, baseline: id('warm'), goal: 0.5, note: joinNotes(`client_secret_basic; ${ctx.connections} connections`, http.note) });

  // The server's validator is its own instance: the cold row's tokens are new to it.
  const httpCold = await measureHttp(ctx, {
    url: `${setup.httpUrl}/oauth2/introspect`,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: stack.basicAuth },
    bodies: coldPool.map((t) => `token=${t}`),
    expectStatus: [200],
    expectBody: '"active":true',
  });
  row({
    id: id('http-cold'),
    name: 'keyturn POST /oauth2/introspect (HTTP, never-seen tokens)',
    opsPerSec: httpCold.opsPerSec,
    baseline: id('cold'),
    goal: 0.5,
    note: joinNotes(`client_secret_basic; ${ctx.connections} connections; each token sent once, the cold row's pool; one run, not alternated`, httpCold.note),
  });
  return rows;
}

/**
 * Never-seen tokens for the cold row: enough for the row at the raw verify rate, but signing is
 * bounded in time (RSA signs ~30× slower than it verifies), so for RSA the row may run out early.
 */
async function freshTokens(ctx: BenchContext, alg: SigningAlgorithm, rawVerifyOps: number): Promise<{ tokens: string[]; note?: string }> {
  const { stack, timing } = ctx;
  const { issuer, kid } = stack.issuers.get(alg)!;
  const wanted = Math.min(500_000, Math.ceil(rawVerifyOps * (timing.seconds + timing.warmupSeconds) * 1.1) + 100);
  const budgetMs = ctx.quick ? 500 : Math.max(6000, timing.seconds * 3000);
  const handle = await stack.services.keyManager.signingHandle(issuer);
  const header = { alg, typ: 'at+jwt', kid };
  const tokens: string[] = [];
  const start = performance.now();
  // 16 at a time: keyturn signs RSA on the thread pool, so every core helps fill the pool.
  while (tokens.length < wanted && (tokens.length < 200 || performance.now() - start < budgetMs)) {
    const n = Math.min(16, wanted - tokens.length);
    tokens.push(...(await Promise.all(Array.from({ length: n }, () => signCompact(handle, header, tokenClaims(issuer, newJti()))))));
  }
  return tokens.length < wanted ? { tokens, note: `pool of ${tokens.length} tokens (signing budget ${budgetMs} ms)` } : { tokens };
}
