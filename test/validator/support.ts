import { constants, KeyObject, randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { expect } from 'vitest';
import type { SigningAlgorithm } from '../../agents/planner/policy-types.js';
import { fixedClock } from '../../agents/shared/clock.js';
import { createValidator } from '../../agents/validator/index.js';
import { TokenRejected, type RejectionCode } from '../../agents/validator/errors.js';
import type { ValidatorOptions } from '../../agents/validator/types.js';

export const T0 = new Date('2026-06-01T00:00:00Z');
export const NOW = T0.getTime() / 1000;
export const ISSUER = 'https://auth.keyturn.test';
export const AUDIENCE = 'https://api.keyturn.test';
export const SKEW = 60;
export const MAX_AGE = 3600;

export interface TestKey {
  alg: SigningAlgorithm;
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Public members plus use/alg/kid, as keyturn publishes it. */
  publicJwk: JWK;
}

/** A fresh key pair (jose generateKeyPair), kid = RFC 7638 thumbprint like KeyManager's. */
export async function testKey(alg: SigningAlgorithm): Promise<TestKey> {
  const pair = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, { extractable: true });
  const jwk = await exportJWK(pair.publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { alg, kid, privateKey: KeyObject.from(pair.privateKey), publicKey: KeyObject.from(pair.publicKey), publicJwk: { ...jwk, use: 'sig', alg, kid } };
}

export const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8').toString('base64url');

/** JOSE-format signature (RFC 7518 §3) with node:crypto: raw r||s for ES256. */
export function joseSignature(alg: SigningAlgorithm, key: KeyObject, input: string): Buffer {
  const data = Buffer.from(input, 'ascii');
  switch (alg) {
    case 'RS256':
      return sign('sha256', data, { key, padding: constants.RSA_PKCS1_PADDING });
    case 'PS256':
      return sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    case 'ES256':
      return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
    case 'EdDSA':
      return sign(null, data, key);
  }
}

export function defaultClaims(): Record<string, unknown> {
  return { iss: ISSUER, aud: AUDIENCE, sub: 'client-1', iat: NOW - 10, exp: NOW + 290, jti: randomUUID() };
}

export function defaultHeader(k: TestKey): Record<string, unknown> {
  return { alg: k.alg, kid: k.kid, typ: 'at+jwt' };
}

export interface TokenSpec {
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  /** Exact header / payload JSON text (duplicate keys, __proto__): overrides header / claims. */
  rawHeader?: string;
  rawClaims?: string;
}

/** A compact JWS signed with `k` (header and claims merged over the defaults; undefined removes a member). */
export function token(k: TestKey, spec: TokenSpec = {}): string {
  const h = spec.rawHeader ?? JSON.stringify({ ...defaultHeader(k), ...spec.header });
  const p = spec.rawClaims ?? JSON.stringify({ ...defaultClaims(), ...spec.claims });
  const input = `${b64(h)}.${b64(p)}`;
  return `${input}.${joseSignature(k.alg, k.privateKey, input).toString('base64url')}`;
}

export function validatorOptions(keys: TestKey[], o: Partial<ValidatorOptions> = {}): ValidatorOptions {
  return {
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: [...new Set(keys.map((k) => k.alg))],
    keys: keys.map((k) => k.publicJwk),
    clockSkewSeconds: SKEW,
    maxTokenAgeSeconds: MAX_AGE,
    clock: fixedClock(T0),
    ...o,
  };
}

export function validatorFor(keys: TestKey[], o: Partial<ValidatorOptions> = {}) {
  return createValidator(validatorOptions(keys, o));
}

/** Asserts a rejection with exactly this code. */
export async function expectRejected(p: Promise<unknown>, code: RejectionCode): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, `expected rejection ${code}`).toBeInstanceOf(TokenRejected);
  expect((e as TokenRejected).code).toBe(code);
}

export interface LocalServer {
  url: string;
  hits: string[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that records every request path. */
export async function localServer(handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, r) => r.end('{}')): Promise<LocalServer> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A JWKS server for these keys. */
export function jwksServer(keys: () => JWK[], cacheControl = 'max-age=300'): Promise<LocalServer> {
  return localServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': cacheControl });
    res.end(JSON.stringify({ keys: keys() }));
  });
}
