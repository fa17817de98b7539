import { generateKeyPairSync } from 'node:crypto';
import { base64url, importJWK, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import type { SigningAlgorithm } from '../planner/policy-types.js';
import { generateSigningKey } from './keygen.js';
import { isKeyturnError } from '../../config/errors.js';
import { joseSign, joseSignOffThread } from './signer.js';

const ALGORITHMS: SigningAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];

async function signingInput(alg: SigningAlgorithm) {
  const key = await generateSigningKey(alg);
  const header = base64url.encode(JSON.stringify({ alg, kid: key.kid, typ: 'JWT' }));
  const payload = base64url.encode(JSON.stringify({ sub: 'x', iat: Math.floor(Date.now() / 1000) }));
  return { key, input: `${header}.${payload}` };
}

async function verifiedSubject(alg: SigningAlgorithm, input: string, sig: Uint8Array, publicJwk: Parameters<typeof importJWK>[0]): Promise<unknown> {
  const { payload } = await jwtVerify(`${input}.${base64url.encode(sig)}`, await importJWK(publicJwk, alg), { algorithms: [alg] });
  return payload.sub;
}

describe('JOSE signatures with node:crypto', () => {
  it.each(ALGORITHMS)('%s signature verifies as a JWT with jose', async (alg) => {
    const { key, input } = await signingInput(alg);
    const sig = joseSign(alg, key.privateKey, new TextEncoder().encode(input));
    expect(await verifiedSubject(alg, input, sig, key.publicJwk)).toBe('x');
  });

  it.each(ALGORITHMS)('%s signature made off the calling thread verifies as a JWT with jose', async (alg) => {
    const { key, input } = await signingInput(alg);
    const sig = await joseSignOffThread(alg, key.privateKey, new TextEncoder().encode(input));
    expect(await verifiedSubject(alg, input, sig, key.publicJwk)).toBe('x');
  });

  it.each<SigningAlgorithm>(['RS256', 'PS256'])('%s signing lets the event loop turn before the signature is ready', async (alg) => {
    const { key, input } = await signingInput(alg);
    const order: string[] = [];
    setImmediate(() => order.push('event loop turned'));
    await joseSignOffThread(alg, key.privateKey, new TextEncoder().encode(input)).then(() => order.push('signed'));
    expect(order).toEqual(['event loop turned', 'signed']);
  });

  it.each<SigningAlgorithm>(['RS256', 'ES256'])('a key that cannot make %s signatures fails with SIGNING_FAILED, on either path', async (alg) => {
    const ed25519 = generateKeyPairSync('ed25519').privateKey;
    const input = new TextEncoder().encode('x.y');
    const sync = (() => {
      try {
        return joseSign(alg, ed25519, input);
      } catch (e) {
        return e;
      }
    })();
    const offThread = await joseSignOffThread(alg, ed25519, input).catch((e: unknown) => e);
    for (const e of [sync, offThread]) {
      expect(isKeyturnError(e, 'SIGNING_FAILED')).toBe(true);
      expect((e as Error).message).toContain(alg);
    }
  });
});
