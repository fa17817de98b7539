import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidatorActivities } from '../../activities/validator.js';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { fixedClock } from '../../agents/shared/clock.js';
import { inActivity } from '../support/activity-context.js';
import { testPool } from '../support/db.js';
import type { Policy } from '../../agents/planner/policy-types.js';
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
  /** A probe minted `minutes` ago by a run that contained its key (its audit entry, as RevocationResponder writes it). */
  const probeMinutesAgo = async (minutes: number, o: { policy?: (p: Policy) => Policy; token?: (t: string) => string } = {}) => {
    const w = await world(pool, {}, fixedClock(new Date(Date.now() - minutes * 60_000)));
    const probe = await w.tokens.issueCanary(w.issuer, { step: 'revocation-probe' });
    const workflowId = `revoke-kid-${probe.jti}`;
    await appendAudit(pool, { actor: { role: 'RevocationResponder', workflowId, runId: 'run-1', activityId: '2' }, action: 'revocation.contained', subject: { kid: probe.kid, issuer: w.issuer }, policyVersion: POLICY_VERSION, outcome: 'ok', details: { reason: 'test' } });
    const policy = o.policy ? o.policy(w.policy) : w.policy;
    const activities = createValidatorActivities({ pool, appendAudit, currentPolicy: async () => policy, jwksUrl: () => jwksUrl });
    const token = o.token ? o.token(probe.accessToken) : probe.accessToken;
    const confirm = () => inActivity(() => activities.confirmRefused({ issuer: w.issuer, token, policyVersion: POLICY_VERSION }), { workflowId });
    return { w, confirm };
  };
  /** The probe with its protected header changed (its signature no longer matches, and that is not what is checked first). */
  const withHeader = (change: Record<string, unknown>) => (t: string) => {
    const [h, p, sig] = t.split('.') as [string, string, string];
    return `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h, 'base64url').toString()), ...change })).toString('base64url')}.${p}.${sig}`;
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

  it('does not count a refusal for another reason than its key (a probe altered on its way)', async () => {
    const altered = (t: string) => {
      const [h, p, sig] = t.split('.') as [string, string, string];
      return `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'someone' })).toString('base64url')}.${sig}`;
    };
    const { w, confirm } = await probeMinutesAgo(30, { token: altered });
    served = await w.km.jwks(w.issuer);

    await expect(confirm()).rejects.toMatchObject({ code: 'REVOCATION_NOT_SEEN', message: expect.stringContaining('SIGNATURE_INVALID') });
  });

  it("does not count a probe whose header names another algorithm than its key's (KeyManager's record decides)", async () => {
    const { w, confirm } = await probeMinutesAgo(30, { token: withHeader({ alg: 'EdDSA' }) });
    served = await w.km.jwks(w.issuer);

    await expect(confirm()).rejects.toMatchObject({ code: 'REVOCATION_NOT_SEEN' });
  });

  it('refuses, for good, a probe that names another key than the one the run contained', async () => {
    const { confirm } = await probeMinutesAgo(30, { token: withHeader({ kid: 'A'.repeat(43) }) });
    served = { keys: [] };

    await expect(confirm()).rejects.toMatchObject({ type: 'REVOCATION_PROBE_MISMATCH', nonRetryable: true });
  });

  it("judges the probe by its key's algorithm when the policy's has changed since it was minted", async () => {
    const { confirm } = await probeMinutesAgo(30, { policy: (p) => ({ ...p, issuers: p.issuers.map((i) => ({ ...i, algorithm: 'RS256' })) }) });
    served = { keys: [] };

    expect((await confirm()).code).toBe('KID_UNKNOWN');
  });
});
