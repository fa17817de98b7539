/**
 * A process that performs one KeyManager transition and is killed mid-transaction by
 * effect-and-record.test.ts. Env: DATABASE_URL, KEYTURN_KEK, OP (activate|revoke), ISSUER, KID, REQUEST_ID.
 */
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { kekFromEnv } from '../../agents/key-manager/kek.js';
import { KeyManager } from '../../agents/key-manager/key-manager.js';
import { systemClock } from '../../agents/shared/clock.js';
import { createPool } from '../../db/pool.js';

const env = process.env;
const km = new KeyManager({ pool: createPool(env.DATABASE_URL!, 2), kek: kekFromEnv()!, appendAudit, clock: systemClock });
const base = { requestId: env.REQUEST_ID!, policyVersion: 'a'.repeat(64), actor: { role: 'KeyManager' as const, workflowId: 'fault-drill' } };
if (env.OP === 'activate') await km.activate({ ...base, issuer: env.ISSUER!, kid: env.KID! });
else await km.revoke({ ...base, kid: env.KID!, reason: 'fault drill' });
process.stdout.write('done\n');
process.exit(0);
