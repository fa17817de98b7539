import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { createSigner } from 'fast-jwt';
import { importJWK, SignJWT, type JWK } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import type { SigningAlgorithm } from '../agents/planner/policy-types.js';
import { joseSignArgs, signOnThreadPool } from '../agents/key-manager/signer.js';
import { signCompact } from '../agents/token-issuer/jws.js';
import { randomId } from '../agents/shared/random-id.js';
import { alternateRounds, measureAsync, measurePaired, measureSync, PAIRED_ROUNDS, pairedNote, sampleNote } from './measure.js';
import { httpRounds } from './http-rounds.js';
import { AUDIENCE, cpuNote, type BenchContext } from './stack.js';
import type { Row } from './table.js';

/** Claims shaped like the ones TokenIssuer mints (RFC 9068 plus keyturn's own). */
export function tokenClaims(issuer: string, jti: string, now = Math.floor(Date.now() / 1000)): Record<string, unknown> {
  return { iss: issuer, sub: 'bench-client', aud: AUDIENCE, exp: now + 1800, iat: now, nbf: now, jti, scope: 'read write', client_id: 'bench-client', policy_version: 'f'.repeat(64) };
}

/** A jti as TokenIssuer makes one. */
export const newJti = randomId;
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');

/** A key pair of the algorithm's type and size (keyturn's policy default: RSA 2048). */
export function localKeyPair(alg: SigningAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (alg) {
    case 'RS256':
    case 'PS256':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'EdDSA':
      return generateKeyPairSync('ed25519');
  }
}

/** The bare node:crypto call for `alg` with keyturn's options, bound once: the lower bound of any JWS signer. */
export function rawSigner(alg: SigningAlgorithm, key: KeyObject): (input: Buffer) => Buffer {
  const [digest, opts] = joseSignArgs(alg, key);
  return (input) => sign(digest, input, opts);
}

const isRsa = (alg: SigningAlgorithm): alg is 'RS256' | 'PS256' => alg === 'RS256' || alg === 'PS256';

/** node:crypto's asynchronous sign for an RSA algorithm: the work runs on libuv's thread pool. */
function rawSignerOnThreadPool(alg: 'RS256' | 'PS256', key: KeyObject): (input: Buffer) => Promise<Buffer> {
  const [digest, opts] = joseSignArgs(alg, key);
  return (input) => signOnThreadPool(digest, input, opts);
}

/** Signing rows for one algorithm: node:crypto, jose, fast-jwt, jsonwebtoken, keyturn in-process and over HTTP. */
export async function signRows(ctx: BenchContext, alg: SigningAlgorithm): Promise<Row[]> {
  const { stack, timing } = ctx;
  const setup = stack.issuers.get(alg)!;
  const { issuer } = setup;
  const id = (s: string) => `sign/${alg}/${s}`;
  const base = id('raw');
  const rows: Row[] = [];
  const row = (r: Omit<Row, 'group' | 'alg'>) => {
    rows.push({ group: 'Signing', alg, ...r });
    ctx.say(`  ${alg} sign ${r.name}: ${r.opsPerSec === null ? 'n/a' : Math.round(r.opsPerSec)} ops/s`);
  };

  // Peers and the baseline sign with a local key of the same type and size as keyturn's.
  const { privateKey } = localKeyPair(alg);
  const header = { alg, typ: 'at+jwt', kid: setup.kid };
  const claims = tokenClaims(issuer, newJti());
  const input = Buffer.from(`${b64(header)}.${b64(claims)}`, 'ascii');
  const raw = rawSigner(alg, privateKey);
  row({ id: base, name: 'node:crypto sign (raw)', opsPerSec: measureSync(() => raw(input), timing).opsPerSec });
  // keyturn signs RSA on libuv's thread pool, several signatures at once on a multi-core machine: its
  // rows with signatures in flight are compared with raw node:crypto doing exactly that.
  const rawPool = isRsa(alg) ? rawSignerOnThreadPool(alg, privateKey) : undefined;
  const parallelBase = rawPool ? id('raw-pool') : base;
  if (rawPool) {
    const m = await measureAsync(() => rawPool(input), timing, { concurrency: 16 });
    row({ id: parallelBase, name: 'node:crypto sign on the thread pool (raw), 16 in flight', opsPerSec: m.opsPerSec, note: `baseline for keyturn's RSA rows with signatures in flight; ${availableParallelism()} cores, thread pool of ${process.env.UV_THREADPOOL_SIZE ?? 4}` });
  }

  const joseKey = await importJWK(privateKey.export({ format: 'jwk' }) as JWK, alg);
  const jose = await measureAsync(() => new SignJWT(claims).setProtectedHeader(header).sign(joseKey), timing);
  row({ id: id('jose'), name: 'jose SignJWT', opsPerSec: jose.opsPerSec, baseline: base });

  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const fast = createSigner({ key: pem, algorithm: alg, kid: setup.kid, header: { alg, typ: 'at+jwt' }, noTimestamp: true });
  row({ id: id('fast-jwt'), name: 'fast-jwt sign', opsPerSec: measureSync(() => fast(claims), timing).opsPerSec, baseline: base });

  if (alg === 'EdDSA') {
    row({ id: id('jsonwebtoken'), name: 'jsonwebtoken sign', opsPerSec: null, baseline: base, note: 'jsonwebtoken 9 does not support EdDSA' });
  } else {
    const opts: jsonwebtoken.SignOptions = { algorithm: alg, keyid: setup.kid, header: { alg, typ: 'at+jwt' }, noTimestamp: true };
    row({ id: id('jsonwebtoken'), name: 'jsonwebtoken sign', opsPerSec: measureSync(() => jsonwebtoken.sign(claims, privateKey, opts), timing).opsPerSec, baseline: base });
  }

  // keyturn's pure signing path: a KeyManager SigningHandle (key unsealed once) and signCompact.
  const km = stack.services.keyManager;
  const handle = await km.signingHandle(issuer);
  const pure = await measureAsync(() => signCompact(handle, header, tokenClaims(issuer, newJti())), timing);
  row({ id: id('handle'), name: 'keyturn signCompact, cached KeyManager handle', opsPerSec: pure.opsPerSec, baseline: base, note: 'pure signing path: JSON + base64url + node:crypto, fresh jti' });

  const lookup = await measureAsync(async () => signCompact(await km.signingHandle(issuer), header, tokenClaims(issuer, newJti())), timing, { concurrency: 8 });
  row({ id: id('handle-lookup'), name: 'keyturn signingHandle() + signCompact', opsPerSec: lookup.opsPerSec, baseline: parallelBase, note: joinNotes('1 PostgreSQL read per token; 8 in flight', sampleNote(lookup)) });

  const issueOp = () => stack.tokenIssuer.issue({ issuer, clientId: stack.client.clientId, authentication: 'in-process' });
  const issued = await measurePaired(rawPool ? { async: () => rawPool(input), concurrency: 16 } : () => raw(input), issueOp, timing, { concurrency: 16 });
  row({
    id: id('issue'),
    name: 'keyturn TokenIssuer.issue() in-process',
    opsPerSec: issued.subject.opsPerSec,
    baseline: parallelBase,
    goal: 0.8,
    pairedRatio: issued.ratio,
    note: joinNotes('returned only after its issued_tokens record commits (group commit; pause, key and client re-checked under the issuance lock); 16 in flight', pairedNote(issued), sampleNote(issued.subject)),
  });

  // Against the in-process figure in alternating rounds too: both move with the machine's drift.
  const tokenRounds = httpRounds(ctx, {
    url: `${setup.httpUrl}/oauth2/token`,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: stack.basicAuth },
    body: 'grant_type=client_credentials',
    expectStatus: [200],
    expectBody: '"access_token"',
  });
  const http = await alternateRounds(timing, PAIRED_ROUNDS, async (slice) => (await measureAsync(issueOp, slice, { concurrency: 16 })).opsPerSec, (slice) => tokenRounds.round(slice.seconds));
  row({
    id: id('http'),
    name: 'keyturn POST /oauth2/token (HTTP)',
    opsPerSec: tokenRounds.opsPerSec(),
    baseline: id('issue'),
    goal: 0.5,
    pairedRatio: http.ratio,
    note: joinNotes(`client_secret_basic; ${ctx.connections} connections; ${cpuNote(tokenRounds.serverCpuMicros())}`, pairedNote(http), ...tokenRounds.problems()),
  });
  return rows;
}

export function joinNotes(...notes: Array<string | undefined>): string {
  return notes.filter((n): n is string => n !== undefined && n !== '').join('; ');
}
