import { describe, expect, it } from 'vitest';
import type { Policy } from '../../agents/planner/policy-types.js';
import { revocationFreshnessOf } from '../../workers/revocation-freshness.js';

const policyWith = (...seconds: number[]) => ({ version: 'v', issuers: seconds.map((s) => ({ revocationFreshnessSeconds: s })) }) as unknown as Policy;

describe('the revocation freshness bound of the HTTP service and the worker', () => {
  it('is the tightest of the issuers in the policy in force', () => {
    expect(revocationFreshnessOf(() => policyWith(60, 15, 30))()).toBe(15);
  });

  it('follows a reloaded policy at the next read', () => {
    let current = policyWith(60);
    const freshness = revocationFreshnessOf(() => current);
    expect(freshness()).toBe(60);
    current = policyWith(10);
    expect(freshness()).toBe(10);
  });
});
