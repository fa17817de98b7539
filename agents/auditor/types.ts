import type { Queryable } from '../shared/db.js';

export type RosterRole = 'Planner' | 'KeyManager' | 'TokenIssuer' | 'Validator' | 'RevocationResponder' | 'Auditor' | 'Orchestrator' | 'Human';

/** Who acted: a roster role plus the identity behind it (workflow/run/activity, Slack user, CLI user). */
export interface AuditActor {
  role: RosterRole;
  workflowId?: string;
  runId?: string;
  activityId?: string;
  slackUser?: string;
  cliUser?: string;
  client?: string;
}

export interface AuditEntryInput {
  actor: AuditActor;
  /** Dotted verb, e.g. `key.generate`, `key.activate`, `handoff`, `token.issue`, `approval.ignored`. */
  action: string;
  /** What it acted on: `{ kid }`, `{ jti }`, `{ client }`, `{ issuer }`. */
  subject: Record<string, string>;
  policyVersion: string;
  outcome: 'ok' | 'refused' | 'failed';
  /** Non-secret extra facts. Never key material, secrets or tokens. */
  details?: Record<string, unknown>;
  /** Idempotency: a repeated request id returns the existing entry instead of appending. */
  requestId?: string;
}

export interface AuditEntry extends AuditEntryInput {
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
}

/** Appends inside the caller's transaction, so an effect and its record commit together or not at all. */
export type AppendAudit = (db: Queryable, entry: AuditEntryInput) => Promise<AuditEntry>;
