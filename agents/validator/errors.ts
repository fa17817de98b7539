import { KeyturnError } from '../../config/errors.js';

/**
 * Every reason the validator rejects a token. The codes are part of the public contract (logs,
 * metrics, alerts key on them): add new ones at the end, never rename or reuse one.
 */
export const REJECTION_CODES = [
  'TOKEN_TOO_LARGE',
  'TOKEN_MALFORMED',
  'TOKEN_HEADER_TOO_LARGE',
  'TOKEN_JWE_UNSUPPORTED',
  'ALG_NONE',
  'ALG_NOT_ALLOWED',
  'HEADER_JWK_FORBIDDEN',
  'HEADER_JKU_FORBIDDEN',
  'HEADER_X5U_FORBIDDEN',
  'HEADER_X5C_FORBIDDEN',
  'HEADER_CRIT_UNSUPPORTED',
  'HEADER_B64_FALSE',
  'KID_MISSING',
  'KID_INVALID',
  'KID_UNKNOWN',
  'TYP_INVALID',
  'SIGNATURE_INVALID',
  'DUPLICATE_JSON_KEY',
  'CLAIMS_INVALID_JSON',
  'PROTO_POLLUTION',
  'ISS_MISMATCH',
  'AUD_MISMATCH',
  'EXP_MISSING',
  'EXP_INVALID',
  'EXPIRED',
  'NBF_INVALID',
  'NBF_IN_FUTURE',
  'IAT_MISSING',
  'IAT_INVALID',
  'IAT_IN_FUTURE',
  'TOKEN_TOO_OLD',
  'JTI_MISSING',
  'JTI_INVALID',
  'REVOKED_JTI',
  'REVOKED_KID',
  'REVOKED_SUB',
  'REVOCATION_STALE',
  'TOKEN_REPLAYED',
  'JWKS_UNAVAILABLE',
  'VALIDATOR_ERROR',
] as const;

export type RejectionCode = (typeof REJECTION_CODES)[number];

const HINT = 'The token was refused; obtain a new one from the issuer. Operators: the code says which check failed.';

/** A token the validator refused. `code` is one of {@link REJECTION_CODES}; the message never echoes token content. */
export class TokenRejected extends KeyturnError {
  declare readonly code: RejectionCode;

  constructor(code: RejectionCode, message: string, details?: Record<string, unknown>) {
    super(code, message, HINT, details);
  }
}

export function reject(code: RejectionCode, message: string): never {
  throw new TokenRejected(code, message);
}

export function isTokenRejected(e: unknown, code?: RejectionCode): e is TokenRejected {
  return e instanceof TokenRejected && (code === undefined || e.code === code);
}
