import type { AppendAudit, AuditActor } from '../auditor/types.js';

/** Who changes the registry or the pause switch, for the audit entry written with the change. */
export interface AuditContext {
  appendAudit: AppendAudit;
  actor: AuditActor;
  policyVersion: string;
}

export { withTransaction } from '../shared/db.js';
