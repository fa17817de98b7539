import type { JWK } from 'jose';
import type { SigningAlgorithm } from '../planner/policy-types.js';

export type KeyState = 'pending' | 'active' | 'retiring' | 'retired' | 'revoked' | 'failed';

/** What leaves KeyManager about a key: never private material. */
export interface KeyRecord {
  kid: string;
  issuer: string;
  alg: SigningAlgorithm;
  state: KeyState;
  /** Public members only. */
  publicJwk: JWK;
  policyVersion: string;
  createdAt: string;
  activatedAt?: string;
  retiredAt?: string;
  /** When it stopped signing (active → retiring). */
  retiringAt?: string;
  revokedAt?: string;
  failedAt?: string;
  /** Why it was revoked or failed. Never secret. */
  stateReason?: string;
}

/**
 * Signing happens inside KeyManager: callers get a handle that signs bytes with the active key
 * and never see the private key itself.
 */
export interface SigningHandle {
  kid: string;
  alg: SigningAlgorithm;
  issuer: string;
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
}
