import { randomBytes, randomUUID } from 'node:crypto';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import type { AppendAudit, AuditActor } from '../../agents/auditor/types.js';
import { LocalKekProvider } from '../../agents/key-manager/kek.js';
import { KeyManager } from '../../agents/key-manager/key-manager.js';
import type { WithheldKey } from '../../agents/key-manager/publication.js';
import type { KeyRecord, KeyState } from '../../agents/key-manager/types.js';
import type { SigningAlgorithm } from '../../agents/planner/policy-types.js';
import { systemClock } from '../../agents/shared/clock.js';
import type { Pool } from '../../db/pool.js';
import { isKeyturnError } from '../../config/errors.js';
import { unique } from '../support/db.js';

export const actor: AuditActor = { role: 'KeyManager', workflowId: 'test-keys' };
export const policyVersion = 'a'.repeat(64);

export const rid = (): string => `test-${randomUUID()}`;
export const newIssuer = (): string => unique('https://iss');
export const newKek = (): LocalKekProvider => new LocalKekProvider(randomBytes(32));

export function keyManager(pool: Pool, opts: { kek?: LocalKekProvider; appendAudit?: AppendAudit; onWithheld?: (key: WithheldKey) => void } = {}): KeyManager {
  return new KeyManager({ pool, kek: opts.kek ?? newKek(), appendAudit: opts.appendAudit ?? appendAudit, clock: systemClock, ...(opts.onWithheld ? { onWithheld: opts.onWithheld } : {}) });
}

const base = () => ({ requestId: rid(), policyVersion, actor });

export function generate(km: KeyManager, issuer: string, alg: SigningAlgorithm = 'ES256'): Promise<KeyRecord> {
  return km.generateKey({ ...base(), issuer, alg });
}

export async function activate(km: KeyManager, key: KeyRecord): Promise<KeyRecord> {
  return (await km.activate({ ...base(), issuer: key.issuer, kid: key.kid })).active;
}

/** A key of a fresh issuer driven through the API into `state`. */
export async function keyIn(km: KeyManager, state: KeyState, issuer = newIssuer()): Promise<KeyRecord> {
  const key = await generate(km, issuer);
  switch (state) {
    case 'pending':
      return key;
    case 'active':
      return activate(km, key);
    case 'retiring':
    case 'retired': {
      await activate(km, key);
      await activate(km, await generate(km, issuer));
      if (state === 'retiring') return km.getKey(key.kid);
      return km.retire({ ...base(), kid: key.kid });
    }
    case 'revoked':
      return km.revoke({ ...base(), kid: key.kid, reason: 'test' });
    case 'failed':
      return km.markFailed({ ...base(), kid: key.kid, reason: 'test' });
  }
}

export async function errorCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return isKeyturnError(e) ? e.code : `non-keyturn: ${(e as Error).message}`;
  }
}

export async function statesOf(pool: Pool, issuer: string): Promise<Record<string, KeyState>> {
  const res = await pool.query<{ kid: string; state: KeyState }>('SELECT kid, state FROM signing_keys WHERE issuer = $1', [issuer]);
  return Object.fromEntries(res.rows.map((r) => [r.kid, r.state]));
}

export { base as opBase };
