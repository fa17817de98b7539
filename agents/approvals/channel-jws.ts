import { CompactSign, compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import type { ChannelKey } from './attestation.js';

/** Channel keys are named by their JWK thumbprint (base64url). */
const CHANNEL_KID = /^[A-Za-z0-9_-]{1,128}$/;

/** Signs a JSON body with an approval channel's Ed25519 key, typed so one kind of statement is never taken for another. */
export async function signChannelJws(body: object, typ: string, key: { kid: string; privateJwk: JWK }): Promise<string> {
  const privateKey = await importJWK(key.privateJwk, 'EdDSA');
  return new CompactSign(new TextEncoder().encode(JSON.stringify(body))).setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ }).sign(privateKey);
}

/** Why a channel JWS was refused before its claims were looked at. */
export type ChannelJwsRefusal = 'missing-or-oversized' | 'malformed' | 'bad-header' | 'unknown-channel-key' | 'signature';

/**
 * Verifies a channel JWS of type `typ` against the registered key its kid names (EdDSA only, the
 * algorithm fixed here, never taken from the token). Returns the key and the parsed payload, which
 * the caller must still check member by member; `refuse` builds the error thrown otherwise.
 */
export async function verifyChannelJws(
  jws: unknown,
  typ: string,
  lookupKey: (kid: string) => Promise<ChannelKey | undefined>,
  refuse: (why: ChannelJwsRefusal) => Error,
): Promise<{ key: ChannelKey; payload: unknown }> {
  if (typeof jws !== 'string' || jws.length > 4096) throw refuse('missing-or-oversized');
  let header;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    throw refuse('malformed');
  }
  // The kid is checked before it reaches the database: a value PostgreSQL refuses (a NUL byte) would fail every retry.
  if (header.alg !== 'EdDSA' || header.typ !== typ || typeof header.kid !== 'string' || !CHANNEL_KID.test(header.kid)) throw refuse('bad-header');
  const key = await lookupKey(header.kid);
  if (!key) throw refuse('unknown-channel-key');
  try {
    const { payload } = await compactVerify(jws, await importJWK(key.publicJwk, 'EdDSA'), { algorithms: ['EdDSA'] });
    return { key, payload: JSON.parse(new TextDecoder().decode(payload)) as unknown };
  } catch {
    throw refuse('signature');
  }
}
