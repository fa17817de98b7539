import type { JWK } from 'jose';
import type { SigningAlgorithm } from '../planner/policy-types.js';
import type { Clock } from '../shared/clock.js';
import type { RejectionCode } from './errors.js';

/** What the revocation check sees of a verified token. */
export interface RevocationSubject {
  jti: string;
  kid: string;
  sub?: string;
  /** Seconds since the epoch. */
  iat: number;
}

/** Throws TokenRejected REVOKED_JTI / REVOKED_KID / REVOKED_SUB, or REVOCATION_STALE when it cannot vouch for its list. */
export interface RevocationChecker {
  check(t: RevocationSubject): Promise<void>;
}

/** Records a jti's first use; throws TokenRejected TOKEN_REPLAYED on any later one. */
export interface SingleUseStore {
  /** `acceptedUntil`: the last moment the validator accepts the token (its exp plus the clock skew). */
  consume(jti: string, acceptedUntil: Date): Promise<void>;
}

export interface ValidatorOptions {
  /** Exact `iss` expected. */
  issuer: string;
  /** This relying party: `aud` (string, or array) must contain it. */
  audience: string;
  /** From policy; the token's header never chooses. */
  algorithms: SigningAlgorithm[];
  /** Remote JWKS (https, or http on localhost). Exactly one of jwksUri / keys. */
  jwksUri?: string;
  /** A fixed key set. Exactly one of jwksUri / keys. */
  keys?: JWK[];
  clockSkewSeconds: number;
  maxTokenAgeSeconds: number;
  revocation?: RevocationChecker;
  singleUse?: SingleUseStore;
  clock?: Clock;
  fetch?: typeof fetch;
  /** Minimum interval between JWKS fetches triggered by unknown kids or expiry. Default 30 000. */
  jwksCooldownMs?: number;
  /** JWKS fetch timeout. Default 5 000. */
  jwksTimeoutMs?: number;
  /** How long past its max-age a JWKS is still used while it cannot be refetched. Default 300. */
  jwksStaleIfErrorSeconds?: number;
  /** Whole-token cap, checked before any parsing. Default 8192. */
  maxTokenBytes?: number;
  /** Encoded header segment cap, checked before any parsing. Default 2048. */
  maxHeaderBytes?: number;
  /**
   * How many authentic tokens to remember so that a token seen again skips only its signature check
   * (every other check still runs). Default 10 000; 0 turns the cache off.
   */
  verifiedCacheSize?: number;
  /** Called with the code of every rejection (logs, metrics). Exceptions it throws are ignored. */
  onReject?: (code: RejectionCode) => void;
}

export interface VerifyOptions {
  /** Consume the jti: a second verify of the same token fails with TOKEN_REPLAYED. Needs `singleUse`. */
  singleUse?: boolean;
}

export interface VerifiedToken {
  header: Readonly<Record<string, unknown>>;
  claims: Readonly<Record<string, unknown>>;
  kid: string;
  alg: SigningAlgorithm;
  iss: string;
  sub?: string;
  jti: string;
  exp: number;
  iat: number;
}

export interface Validator {
  verify(token: string, opts?: VerifyOptions): Promise<VerifiedToken>;
  close(): void;
}
