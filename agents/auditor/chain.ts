import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import type { AuditEntry } from './types.js';

/** prev_hash of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields an entry's hash covers: everything but the hash itself. */
export type HashedFields = Omit<AuditEntry, 'hash'>;

/** sha256 hex over the canonical JSON of {seq, at, actor, action, subject, policyVersion, outcome, details, requestId, prevHash}. */
export function entryHash(e: HashedFields): string {
  const body = {
    seq: e.seq,
    at: e.at,
    actor: e.actor,
    action: e.action,
    subject: e.subject,
    policyVersion: e.policyVersion,
    outcome: e.outcome,
    details: e.details ?? {},
    requestId: e.requestId ?? null,
    prevHash: e.prevHash,
  };
  return createHash('sha256').update(canonicalJson(body), 'utf8').digest('hex');
}
