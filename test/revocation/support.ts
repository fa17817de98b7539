import { randomUUID } from 'node:crypto';
import type { AuditActor } from '../../agents/auditor/types.js';
import type { Queryable } from '../../agents/shared/db.js';
import { recordIssued } from '../../agents/token-issuer/issued-tokens.js';
import type { World } from '../issuer/support.js';
import { actor as keyActor, POLICY_VERSION } from '../issuer/support.js';

export { auditEntries, client, POLICY_VERSION, world, type World } from '../issuer/support.js';

export const responder: AuditActor = { role: 'RevocationResponder', workflowId: 'wf-revocation-test', runId: 'run-1', activityId: '1' };
export const base = { actor: responder, policyVersion: POLICY_VERSION };

export interface RevocationRow {
  id: string;
  kind: string;
  value: string;
  temporary: boolean;
  expires_at: Date;
  not_before: Date | null;
}

export async function entries(db: Queryable, kind: string, value: string): Promise<RevocationRow[]> {
  const res = await db.query<RevocationRow & Record<string, unknown>>(`SELECT id::text AS id, kind, value, temporary, expires_at, not_before FROM revocations WHERE kind = $1 AND value = $2 ORDER BY id`, [kind, value]);
  return res.rows;
}

/** The issuer's current active kid, via KeyManager's public API. */
export async function activeKid(w: World): Promise<string> {
  return (await w.km.activeKey(w.issuer))!.kid;
}

/** A pending (never active) key for the issuer. */
export async function pendingKid(w: World): Promise<string> {
  const k = await w.km.generateKey({ requestId: `t-${randomUUID()}`, policyVersion: POLICY_VERSION, actor: keyActor, issuer: w.issuer, alg: 'ES256' });
  return k.kid;
}

/** Rotates to a fresh key, the old one revoked (what the workflow asks KeyManager to do after approval). */
export async function replaceKey(w: World): Promise<string> {
  const next = await pendingKid(w);
  await w.km.activate({ requestId: `t-${randomUUID()}`, policyVersion: POLICY_VERSION, actor: keyActor, issuer: w.issuer, kid: next, previousTo: 'revoked', reason: 'compromised' });
  return next;
}

/** Records a token as issued under `kid` with the given iat/exp (no signing needed to exercise the deny-list). */
export async function recordToken(db: Queryable, w: World, kid: string, iat: Date, exp: Date): Promise<string> {
  const jti = randomUUID().replace(/-/g, '');
  await recordIssued(db, { jti, issuer: w.issuer, sub: 'client-x', clientId: 'client-x', kid, iat, exp, policyVersion: POLICY_VERSION });
  return jti;
}

export async function auditCount(db: Queryable, action: string, key: string, value: string): Promise<number> {
  const res = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE action = $1 AND subject ->> $2 = $3`, [action, key, value]);
  return res.rows[0]!.n;
}
