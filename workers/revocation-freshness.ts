import type { Policy } from '../agents/planner/policy-types.js';

/**
 * The tightest revocationFreshness of the policy in force, for a RevocationCache that reads it on
 * every check: a reloaded policy applies at once, and it is computed once per policy version.
 */
export function revocationFreshnessOf(policy: () => Policy): () => number {
  let seen: Policy | undefined;
  let seconds = 0;
  return () => {
    const p = policy();
    if (p !== seen) {
      seen = p;
      seconds = Math.min(...p.issuers.map((i) => i.revocationFreshnessSeconds));
    }
    return seconds;
  };
}
