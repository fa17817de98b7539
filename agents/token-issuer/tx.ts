import pg from 'pg';
import { inTransaction } from '../../db/pool.js';
import type { AppendAudit, AuditActor } from '../auditor/types.js';
import type { Queryable } from '../shared/db.js';

/** Who changes the registry or the pause switch, for the audit entry written with the change. */
export interface AuditContext {
  appendAudit: AppendAudit;
  actor: AuditActor;
  policyVersion: string;
}

/** Runs `fn` in a transaction: a fresh one when given a Pool, the caller's otherwise. */
export function withTransaction<T>(db: Queryable, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return db instanceof pg.Pool ? inTransaction(db, fn) : fn(db);
}
