import { CompactSign, importJWK, type JWK } from 'jose';
import { ATTESTATION_TYP } from '../../agents/approvals/attestation.js';

/** Signs `body` as it stands, as a key holder who does not use signAttestation could (any claims, any kid). */
export async function signRawAttestation(body: unknown, key: { kid: string; privateJwk: JWK }): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(body)))
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: ATTESTATION_TYP })
    .sign(await importJWK(key.privateJwk, 'EdDSA'));
}
