export { createValidator } from './validator.js';
export { REJECTION_CODES, TokenRejected, isTokenRejected, type RejectionCode } from './errors.js';
export type { RevocationChecker, RevocationSubject, SingleUseStore, Validator, ValidatorOptions, VerifiedToken, VerifyOptions } from './types.js';
export {
  REVOCATION_CHANNEL,
  RevocationCache,
  PgSingleUseStore,
  MemorySingleUseStore,
  liftRevocation,
  makePermanent,
  pgListener,
  purgeExpiredRevocations,
  revoke,
} from './revocation-list.js';
export type { ListenerClient, RevocationCacheOptions, RevocationKind, RevocationNotice, RevocationRow, RevokeInput } from './revocation-list.js';
export type { SingleUseOptions } from './single-use.js';
