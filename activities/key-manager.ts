import type { KeyManager } from '../agents/key-manager/key-manager.js';
import type { KeyState } from '../agents/key-manager/types.js';
import type { SigningAlgorithm } from '../agents/planner/policy-types.js';
import { isKeyturnError } from '../config/errors.js';
import type { Pool } from '../db/pool.js';
import { actorFor, asActivity, auditSeqsOfThisActivity, requestIdFor } from './context.js';
import { requireRecordedApproval } from './recorded-sign-off.js';

export interface KeyManagerActivityDeps {
  keyManager: KeyManager;
  pool: Pool;
}

interface PlanRef {
  newKey: { alg: SigningAlgorithm; rsaModulusLength?: number };
  policyVersion: string;
}

/**
 * Each key's state now, `missing` standing for a kid keyturn holds no key for. The revocation's and
 * the rotation's reads differ only in that stand-in (each is in recorded histories under its name).
 */
async function statesOf<M>(keyManager: KeyManager, kids: readonly string[], missing: M): Promise<Record<string, KeyState | M>> {
  const states: Record<string, KeyState | M> = {};
  for (const kid of kids) {
    states[kid] = await keyManager.getKey(kid).then(
      (k) => k.state,
      (e: unknown) => {
        if (isKeyturnError(e, 'KEY_NOT_FOUND')) return missing;
        throw e;
      },
    );
  }
  return states;
}

/** KeyManager's activities: ids in, ids out. Key material never crosses into workflow history. */
export function createKeyManagerActivities({ keyManager, pool }: KeyManagerActivityDeps) {
  const seqs = (_requestId: string) => auditSeqsOfThisActivity(pool);
  return {
    async generateKey(input: { issuer: string; plan: PlanRef }) {
      return asActivity(async () => {
        // A new key only after a sign-off this run recorded: a rotation's, or a compromised key's revocation's.
        await requireRecordedApproval(pool, ['rotation.planned', 'revocation.planned']);
        const requestId = requestIdFor('generate');
        const key = await keyManager.generateKey({ requestId, issuer: input.issuer, alg: input.plan.newKey.alg, ...(input.plan.newKey.rsaModulusLength ? { rsaModulusLength: input.plan.newKey.rsaModulusLength } : {}), policyVersion: input.plan.policyVersion, actor: actorFor('KeyManager') });
        return { kid: key.kid, state: key.state, auditSeqs: await seqs(requestId) };
      });
    },
    /** `expectedPreviousKid`: activate only while that key is the issuer's active one (KEY_ACTIVE_CHANGED otherwise, nothing changed). */
    async activateKey(input: { issuer: string; kid: string; policyVersion: string; previousTo?: 'retiring' | 'revoked'; expectedPreviousKid?: string }) {
      return asActivity(async () => {
        const requestId = requestIdFor(`activate:${input.kid}`);
        const r = await keyManager.activate({
          requestId, issuer: input.issuer, kid: input.kid, policyVersion: input.policyVersion, actor: actorFor('KeyManager'),
          ...(input.previousTo ? { previousTo: input.previousTo } : {}), ...(input.expectedPreviousKid ? { expectedPreviousKid: input.expectedPreviousKid } : {}),
        });
        return { kid: r.active.kid, previousKid: r.previous?.kid ?? null, auditSeqs: await seqs(requestId) };
      });
    },
    /** Each key's state now, null for a kid keyturn holds no key for: a run acts on the keys as they are, not as it planned them. Reads only. */
    async readKeyStates(input: { kids: string[] }): Promise<{ states: Record<string, KeyState | null> }> {
      return asActivity(async () => ({ states: await statesOf(keyManager, input.kids, null) }));
    },
    async restorePreviousKey(input: { issuer: string; previousKid: string; failedKid: string; reason: string; policyVersion: string }) {
      return asActivity(async () => {
        const requestId = requestIdFor(`restore:${input.failedKid}`);
        await keyManager.restorePrevious({ requestId, issuer: input.issuer, previousKid: input.previousKid, failedKid: input.failedKid, reason: input.reason, policyVersion: input.policyVersion, actor: actorFor('KeyManager') });
        return { auditSeqs: await seqs(requestId) };
      });
    },
    async markKeyFailed(input: { kid: string; reason: string; policyVersion: string }) {
      return asActivity(async () => {
        const requestId = requestIdFor(`fail:${input.kid}`);
        await keyManager.markFailed({ requestId, kid: input.kid, reason: input.reason, policyVersion: input.policyVersion, actor: actorFor('KeyManager') });
        return { auditSeqs: await seqs(requestId) };
      });
    },
    async retireKey(input: { kid: string; policyVersion: string }) {
      return asActivity(async () => {
        const requestId = requestIdFor(`retire:${input.kid}`);
        const key = await keyManager.retire({ requestId, kid: input.kid, policyVersion: input.policyVersion, actor: actorFor('KeyManager') });
        // Revoked meanwhile (a revocation run, an operator): it left the JWKS then, nothing was retired now.
        return { auditSeqs: await seqs(requestId), ...(key.state === 'revoked' ? { alreadyRevoked: true as const } : {}) };
      });
    },
    /** The named keys' states as they are now (`missing`: no such key): what a compensation acts on. Reads only. */
    async keyStates(input: { kids: string[] }) {
      return asActivity(async () => ({ states: await statesOf(keyManager, input.kids, 'missing' as const) }));
    },
    async revokeKey(input: { kid: string; reason: string; policyVersion: string }) {
      return asActivity(async () => {
        const requestId = requestIdFor(`revoke:${input.kid}`);
        await keyManager.revoke({ requestId, kid: input.kid, reason: input.reason, policyVersion: input.policyVersion, actor: actorFor('KeyManager') });
        return { auditSeqs: await seqs(requestId) };
      });
    },
  };
}

export type KeyManagerActivities = ReturnType<typeof createKeyManagerActivities>;
