import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidatorActivities } from '../../activities/validator.js';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { fixedClock } from '../../agents/shared/clock.js';
import { inActivity } from '../support/activity-context.js';
import { testPool } from '../support/db.js';
import { POLICY_VERSION, world } from '../issuer/support.js';

const pool = testPool();
/** The JWKS a relying party fetches: whatever the test serves. */
let served: JSONWebKeySet = { keys: [] };
let server: Server;
let jwksUrl: string;
beforeAll(async () => {
  server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(served)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await pool.end();
});

/**
 * After a key revocation's sign-off, the Validator confirms that a relying party refuses the probe
 * (a canary signed by the revoked key, minted at containment) for its key. Sign-off often comes
 * long after the short-lived probe expired: its expiry must not pass for the revocation.
 */
describe('confirmRefused', () => {
  const probeMinutesAgo = async (minutes: number) => {
    const w = await world(pool, {}, fixedClock(new Date(Date.now() - minutes * 60_000)));
    const probe = await w.tokens.issueCanary(w.issuer, { step: 'revocation-probe' });
    const activities = createValidatorActivities({ pool, appendAudit, currentPolicy: async () => w.policy, jwksUrl: () => jwksUrl });
    const confirm = () => inActivity(() => activities.confirmRefused({ issuer: w.issuer, token: probe.accessToken, policyVersion: POLICY_VERSION }), { workflowId: `revoke-${probe.jti}` });
    return { w, confirm };
  };

  it('is not satisfied by an expired probe whose key relying parties still accept', async () => {
    const { w, confirm } = await probeMinutesAgo(30);
    served = await w.km.jwks(w.issuer);

    await expect(confirm()).rejects.toMatchObject({ code: 'REVOCATION_NOT_SEEN' });
  });

  it('confirms once the key is gone from the JWKS relying parties fetch', async () => {
    const { confirm } = await probeMinutesAgo(30);
    served = { keys: [] };

    expect((await confirm()).code).toBe('KID_UNKNOWN');
  });
});
