import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AuditActor, RosterRole } from '../agents/auditor/types.js';
import { consumeStartNonce, purgeRunStarts } from '../agents/shared/run-starts.js';
import { purgeExpiredRevocations } from '../agents/validator/revocation-list.js';
import type { Queryable } from '../agents/shared/db.js';
import { isKeyturnError, KeyturnError } from '../config/errors.js';

/** The audit actor for the running activity: its role plus the workflow/run/activity ids. */
export function actorFor(role: RosterRole): AuditActor {
  const info = Context.current().info;
  return { role, workflowId: info.workflowExecution?.workflowId ?? 'standalone', runId: info.workflowExecution?.runId ?? 'standalone', activityId: info.activityId };
}

/** The longest request id KeyManager takes (REQUEST_ID_INVALID beyond). */
const MAX_REQUEST_ID = 160;

/**
 * A request id stable across retries of the same activity, for idempotent effects. One longer than
 * KeyManager takes (a workflow id naming a long issuer) becomes its step and a digest of the whole:
 * as stable and as unique, and short enough for every store.
 */
export function requestIdFor(step: string): string {
  const { workflowId, runId } = actorFor('Orchestrator');
  return boundedRequestId(`${workflowId}:${runId}:${step}`, step);
}

export function boundedRequestId(full: string, step: string): string {
  if (full.length <= MAX_REQUEST_ID) return full;
  const digest = createHash('sha256').update(full).digest('base64url');
  return `${digest}:${step}`.slice(0, MAX_REQUEST_ID);
}

/** A retried step whose recorded outcome no longer holds: the run stops rather than act on another one. */
export function changedOnRetry(what: string): KeyturnError {
  return new KeyturnError('STEP_CHANGED_ON_RETRY', `${what}, while its reply was lost`, 'Start the run again; nothing else was changed.');
}

export interface RecordedStep {
  policyVersion: string;
  details: Record<string, unknown>;
}

/**
 * The audit entry for `step` (its `action`) that an earlier attempt of this very activity of this
 * run committed, if any. Planning writes that entry only once the start request passed its check,
 * so a retry (its reply lost, say) skips the check: a key disabled since must not fail a run that
 * was already planned. Outside a workflow there is no run to tell attempts apart: never recorded.
 */
export async function recordedStep(db: Queryable, step: string, action: string): Promise<RecordedStep | undefined> {
  const info = Context.current().info;
  if (!info.workflowExecution) return undefined;
  const { rows } = await db.query<{ policy_version: string; details: Record<string, unknown> }>(
    `SELECT policy_version, details FROM audit_log WHERE request_id = $1 AND action = $2 AND actor ->> 'activityId' = $3`,
    [requestIdFor(step), action, info.activityId],
  );
  const row = rows[0];
  return row ? { policyVersion: row.policy_version, details: row.details } : undefined;
}

/** Consumes the running workflow's start nonce: a copied start request stops at its first activity. */
export function consumeRunStart(db: Queryable, nonce: string | undefined): Promise<void> {
  const { workflowId, runId } = actorFor('Orchestrator');
  return consumeStartNonce(db, { nonce, workflowId: workflowId ?? 'standalone', runId: runId ?? 'standalone' });
}

/** Forgets start nonces too old to matter (purgeRunStarts), best effort, outside any run's transaction. */
export async function forgetOldRunStarts(pool: Queryable): Promise<void> {
  await purgeRunStarts(pool).catch(() => {});
}

/** A run's first step on the pool: consume its start nonce, then forget nonces too old to matter. */
export async function useRunStart(pool: Queryable, nonce: string | undefined): Promise<void> {
  await consumeRunStart(pool, nonce);
  await forgetOldRunStarts(pool);
}

/** Forgets deny-list entries that can no longer match a valid token, best effort, outside any run's transaction. */
export async function forgetExpiredRevocations(pool: Queryable, now: Date): Promise<void> {
  await purgeExpiredRevocations(pool, now).catch(() => {});
}

/** Codes whose cause a retry cannot fix: they fail the activity at once. */
const NON_RETRYABLE = new Set([
  'KEY_TRANSITION_FORBIDDEN', 'KEY_NOT_FOUND', 'KEY_ACTIVE_CHANGED', 'KEY_DENY_LISTED', 'POLICY_INVALID', 'PLAN_IN_FLIGHT', 'PLAN_UNSAFE',
  'PLAN_UNKNOWN_ISSUER', 'NO_ACTIVE_KEY', 'KEY_BINDING_MISMATCH', 'KEY_CIPHERTEXT_TAMPERED', 'KEK_MISMATCH',
  'POLICY_CHANGE_UNSAFE', 'POLICY_CHANGE_NOT_SIGNED_OFF', 'POLICY_NOT_BOOTSTRAPPED', 'POLICY_ACTIVE_CHANGED', 'POLICY_UNCHANGED', 'POLICY_CHANGE_INVALID',
  'START_REPLAYED', 'STEP_CHANGED_ON_RETRY', 'START_NONCE_MISSING', 'START_EXPIRED', 'START_UNSIGNED', 'START_SIGNATURE_INVALID', 'SLACK_REFUSED', 'REVOCATION_PERMANENT', 'REVOCATION_INVALID', 'REVOCATION_RELEASE_UNSAFE', 'REVOCATION_NOTICE_INVALID', 'REVOCATION_KEY_MISSING', 'REVOCATION_KEY_INVALID', 'SUBSCRIBER_INVALID', 'SUBSCRIBER_ADDRESS_REFUSED',
  'SIGN_OFF_NOT_RECORDED', 'REQUEST_ID_INVALID', 'REQUEST_ID_CONFLICT', 'AUDIT_REQUEST_ID_CONFLICT',
]);

/** Runs an activity body, turning keyturn's permanent errors into non-retryable failures with their code. */
export async function asActivity<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isKeyturnError(e) && NON_RETRYABLE.has(e.code)) {
      throw ApplicationFailure.create({ message: e.message, type: e.code, nonRetryable: true });
    }
    throw e;
  }
}

/** Audit seqs written under the running activity's identity (any attempt), for the run's seq range. */
export async function auditSeqsOfThisActivity(db: { query: (text: string, values: unknown[]) => Promise<{ rows: Array<{ seq: string }> }> }): Promise<number[]> {
  const actor = actorFor('Orchestrator');
  const res = await db.query(
    `SELECT seq::text AS seq FROM audit_log WHERE actor->>'workflowId' = $1 AND actor->>'runId' = $2 AND actor->>'activityId' = $3 ORDER BY seq`,
    [actor.workflowId, actor.runId, actor.activityId],
  );
  return res.rows.map((r) => Number(r.seq));
}
