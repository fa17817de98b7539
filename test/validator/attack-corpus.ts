import { createHmac } from 'node:crypto';
import type { JWK } from 'jose';
import type { RejectionCode } from '../../agents/validator/errors.js';
import { b64, defaultClaims, defaultHeader, ISSUER, NOW, token, type TestKey } from './support.js';

/**
 * The attack corpus: tokens the validator must refuse, each with the rejection code it must give.
 * attacks.test.ts checks the codes; differential.test.ts checks that jose (configured as keyturn
 * is) refuses every one too, or that a stated stricter rule of keyturn's is why only keyturn does.
 * Cases that need more than a token (a JWKS server that must never be contacted, a revocation
 * list) stay in attacks.test.ts.
 */
export interface AttackKeys {
  /** RS256, published. */
  rsa: TestKey;
  /** ES256, published. */
  ec: TestKey;
  /** ES256, not published. */
  attacker: TestKey;
  /** The attacker's public key as a JWK (for the embedded-jwk attack). */
  attackerJwk: JWK;
}

export interface Attack {
  group: string;
  name: string;
  token: string;
  code: RejectionCode;
}

/** The policy the corpus is run under: RS256, PS256 and ES256 allowed; keys: rsa and ec. */
export const ATTACK_ALGORITHMS = ['RS256', 'PS256', 'ES256'] as const;

export function attackCorpus(k: AttackKeys): Attack[] {
  const { rsa, ec, attacker } = k;
  const hmacToken = (secret: Buffer | string, header: Record<string, unknown> = {}) => {
    const input = `${b64({ ...defaultHeader(rsa), alg: 'HS256', ...header })}.${b64(defaultClaims())}`;
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  };
  const unsigned = (alg: string) => `${b64({ alg, kid: ec.kid, typ: 'at+jwt' })}.${b64(defaultClaims())}.`;
  const withSignature = (t: string, sig: string) => `${t.slice(0, t.lastIndexOf('.'))}.${sig}`;
  const [eh, ep, es] = token(ec).split('.') as [string, string, string];
  const rsaToken = token(rsa);
  const rsaSig = Buffer.from(rsaToken.slice(rsaToken.lastIndexOf('.') + 1), 'base64url');
  const claimsText = JSON.stringify(defaultClaims());

  const a = (group: string, name: string, t: string, code: RejectionCode): Attack => ({ group, name, token: t, code });
  return [
    a('alg none', 'refuses alg "none"', unsigned('none'), 'ALG_NONE'),
    a('alg none', 'refuses alg "None"', unsigned('None'), 'ALG_NONE'),
    a('alg none', 'refuses alg "NONE"', unsigned('NONE'), 'ALG_NONE'),

    a('algorithm confusion', 'refuses HS256 signed with our public key as PEM', hmacToken(rsa.publicKey.export({ type: 'spki', format: 'pem' })), 'ALG_NOT_ALLOWED'),
    a('algorithm confusion', 'refuses HS256 signed with our public key as DER', hmacToken(rsa.publicKey.export({ type: 'spki', format: 'der' })), 'ALG_NOT_ALLOWED'),
    a('algorithm confusion', 'refuses HS256 signed with our public key as JWK text', hmacToken(JSON.stringify(rsa.publicJwk)), 'ALG_NOT_ALLOWED'),
    a('algorithm confusion', 'refuses our RS256 key used for PS256 even though policy allows PS256', token({ ...rsa, alg: 'PS256' }), 'ALG_NOT_ALLOWED'),
    a('algorithm confusion', 'refuses our RS256 key used for RS384', token(rsa, { header: { alg: 'RS384' } }), 'ALG_NOT_ALLOWED'),

    a('key-carrying and key-locating headers', 'refuses an embedded jwk header (attacker key, attacker signature)', token(attacker, { header: { jwk: k.attackerJwk, kid: ec.kid } }), 'HEADER_JWK_FORBIDDEN'),
    a('key-carrying and key-locating headers', 'refuses a jku header', token(attacker, { header: { jku: 'https://127.0.0.1:9/jku', kid: attacker.kid } }), 'HEADER_JKU_FORBIDDEN'),
    a('key-carrying and key-locating headers', 'refuses an x5u header', token(attacker, { header: { x5u: 'https://127.0.0.1:9/x5u', kid: attacker.kid } }), 'HEADER_X5U_FORBIDDEN'),
    a('key-carrying and key-locating headers', 'refuses an x5c header', token(attacker, { header: { x5c: [Buffer.from('not really a certificate').toString('base64')], kid: ec.kid } }), 'HEADER_X5C_FORBIDDEN'),

    a('kid', 'refuses a path-traversal kid', token(ec, { header: { kid: '../../etc/passwd' } }), 'KID_INVALID'),
    a('kid', 'refuses an SQL-injection kid', token(ec, { header: { kid: "' OR 1=1--" } }), 'KID_INVALID'),
    a('kid', 'refuses a 10 KB kid by the token size cap, before parsing', token(ec, { header: { kid: 'a'.repeat(10_240) } }), 'TOKEN_TOO_LARGE'),
    a('kid', 'refuses a 3 KB kid by the header size cap, before parsing', token(ec, { header: { kid: 'a'.repeat(3_072) } }), 'TOKEN_HEADER_TOO_LARGE'),
    a('kid', 'refuses a missing kid', token(ec, { header: { kid: undefined } }), 'KID_MISSING'),
    a('kid', 'refuses a kid the key set does not have', token(attacker), 'KID_UNKNOWN'),

    a('header extensions', 'refuses an unknown crit extension', token(ec, { header: { crit: ['urn:x:ext'], 'urn:x:ext': 1 } }), 'HEADER_CRIT_UNSUPPORTED'),
    a('header extensions', 'refuses b64:false (unencoded payload)', token(ec, { header: { b64: false, crit: ['b64'] } }), 'HEADER_B64_FALSE'),

    a('signature', 'refuses an all-zero RS256 signature', withSignature(rsaToken, Buffer.alloc(256).toString('base64url')), 'SIGNATURE_INVALID'),
    a('signature', 'refuses the psychic ECDSA signature r = s = 0', withSignature(token(ec), Buffer.alloc(64).toString('base64url')), 'SIGNATURE_INVALID'),
    a('signature', 'refuses a tampered payload under the original signature', `${eh}.${b64({ ...defaultClaims(), sub: 'admin' })}.${es}`, 'SIGNATURE_INVALID'),
    a('signature', 'refuses a truncated signature', withSignature(rsaToken, rsaSig.subarray(0, 128).toString('base64url')), 'SIGNATURE_INVALID'),
    a('signature', 'refuses an empty signature', withSignature(token(ec), ''), 'SIGNATURE_INVALID'),

    a('time claims', 'refuses a token without exp', token(ec, { claims: { exp: undefined } }), 'EXP_MISSING'),
    a('time claims', 'refuses exp given as the string "123"', token(ec, { claims: { exp: '123' } }), 'EXP_INVALID'),
    a('time claims', 'refuses exp 1e20', token(ec, { claims: { exp: 1e20 } }), 'EXP_INVALID'),
    a('time claims', 'refuses an expired token', token(ec, { claims: { exp: NOW - 61 } }), 'EXPIRED'),
    a('time claims', 'refuses nbf in the future beyond the skew', token(ec, { claims: { nbf: NOW + 61 } }), 'NBF_IN_FUTURE'),
    a('time claims', 'refuses iat in the future beyond the skew', token(ec, { claims: { iat: NOW + 61 } }), 'IAT_IN_FUTURE'),
    a('time claims', 'refuses a token older than the maximum token age', token(ec, { claims: { iat: NOW - 3600 - 61 } }), 'TOKEN_TOO_OLD'),

    a('identity claims', 'refuses a wrong iss', token(ec, { claims: { iss: 'https://evil.test' } }), 'ISS_MISMATCH'),
    a('identity claims', 'refuses iss given as an array containing ours', token(ec, { claims: { iss: [ISSUER] } }), 'ISS_MISMATCH'),
    a('identity claims', 'refuses a token without aud', token(ec, { claims: { aud: undefined } }), 'AUD_MISMATCH'),
    a('identity claims', 'refuses a foreign aud', token(ec, { claims: { aud: 'https://other-api.test' } }), 'AUD_MISMATCH'),
    a('identity claims', 'refuses a token without jti', token(ec, { claims: { jti: undefined } }), 'JTI_MISSING'),

    a('typ', 'refuses a missing typ', token(ec, { header: { typ: undefined } }), 'TYP_INVALID'),
    a('typ', 'refuses typ JWT (an ID token or other JWT is not an access token)', token(ec, { header: { typ: 'JWT' } }), 'TYP_INVALID'),

    a('JSON parsing', 'refuses duplicate members in the header', token(ec, { rawHeader: `{"alg":"ES256","kid":"${ec.kid}","typ":"at+jwt","kid":"${ec.kid}"}` }), 'DUPLICATE_JSON_KEY'),
    a('JSON parsing', 'refuses duplicate members in the payload, even when validly signed', token(ec, { rawClaims: `${claimsText.slice(0, -1)},"sub":"admin"}` }), 'DUPLICATE_JSON_KEY'),
    a('JSON parsing', 'refuses a __proto__ claim, even when validly signed', token(ec, { rawClaims: `${claimsText.slice(0, -1)},"__proto__":{"admin":true}}` }), 'PROTO_POLLUTION'),
    a('JSON parsing', 'refuses a payload that is not JSON, even when validly signed', token(ec, { rawClaims: 'not json' }), 'CLAIMS_INVALID_JSON'),

    a('shape and size', 'refuses a 5 MB token before parsing it', `${'a'.repeat(5 * 1024 * 1024)}.b.c`, 'TOKEN_TOO_LARGE'),
    a('shape and size', 'refuses a segment with base64 padding', `${eh}=.${ep}.${es}`, 'TOKEN_MALFORMED'),
    a('shape and size', 'refuses a segment with standard-base64 characters', `${eh}.${ep.replace(/[-_]|.$/, '+')}.${es}`, 'TOKEN_MALFORMED'),
    a('shape and size', 'refuses a segment with whitespace', `${eh}.${ep} .${es}`, 'TOKEN_MALFORMED'),
    a('shape and size', 'refuses a JWE compact token (5 segments)', `${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.a.b.c.d`, 'TOKEN_JWE_UNSUPPORTED'),
    a('shape and size', 'refuses a token with 4 segments', `${token(ec)}.x`, 'TOKEN_MALFORMED'),
  ];
}
