export type * from './types.js';
export { appendAudit, createAppendAudit, AUDIT_APPEND_LOCK, type AppendAuditOptions } from './audit-log.js';
export { canonicalJson, normalizeJson } from './canonical-json.js';
export { entryHash, GENESIS_HASH } from './chain.js';
export { listAudit, type ListAuditQuery } from './queries.js';
export { AuditSigner, loadAuditKey, importAuditPublicKey, readSecretFile, type LoadAuditKeyOptions } from './audit-key.js';
export { checkpoint, startCheckpointer, type AuditCheckpoint, type CheckpointOptions, type CheckpointerOptions } from './checkpoint.js';
export { verifyAuditChain, type VerifyAuditResult, type ChainOk, type ChainBreak, type ChainBreakReason } from './verify.js';
