import { afterAll, describe, expect, it } from 'vitest';
import { getPause, isPaused, pauseIssuance, resumeIssuance } from '../../agents/token-issuer/issuance-control.js';
import { testPool, unique } from '../support/db.js';
import { auditEntries } from './support.js';

const pool = testPool();
afterAll(() => pool.end());
const responder = { role: 'RevocationResponder' as const, workflowId: 'wf-incident' };

describe('issuance pause', () => {
  it('pausing makes isPaused true and records reason and actor', async () => {
    const issuer = unique('https://iss');
    expect(await isPaused(pool, issuer)).toBe(false);
    await pauseIssuance(pool, issuer, 'key compromise suspected', responder);
    expect(await isPaused(pool, issuer)).toBe(true);
    expect(await getPause(pool, issuer)).toMatchObject({ issuer, reason: 'key compromise suspected', pausedBy: responder });
  });

  it('resuming clears the pause and says whether there was one', async () => {
    const issuer = unique('https://iss');
    await pauseIssuance(pool, issuer, 'incident', responder);
    expect(await resumeIssuance(pool, issuer, responder)).toBe(true);
    expect(await isPaused(pool, issuer)).toBe(false);
    expect(await resumeIssuance(pool, issuer, responder)).toBe(false);
  });

  it('pausing twice keeps the first pause', async () => {
    const issuer = unique('https://iss');
    await pauseIssuance(pool, issuer, 'first', responder);
    await pauseIssuance(pool, issuer, 'second', { role: 'Human', cliUser: 'bob' });
    expect((await getPause(pool, issuer))!.reason).toBe('first');
  });

  it('pause and resume are audited with their actor', async () => {
    const issuer = unique('https://iss');
    await pauseIssuance(pool, issuer, 'incident', responder, { policyVersion: 'v1' });
    await resumeIssuance(pool, issuer, responder, { policyVersion: 'v1' });
    expect((await auditEntries(pool, 'issuance.pause', 'issuer', issuer)).map((e) => e.actor)).toEqual([responder]);
    expect(await auditEntries(pool, 'issuance.resume', 'issuer', issuer)).toHaveLength(1);
  });
});
