import type { WebClient } from '@slack/web-api';
import type { ApprovalPolicy } from '../agents/planner/policy-types.js';

export type Allowance = { allowed: true; viaGroup?: string } | { allowed: false };

const GROUP = /^S[A-Z0-9]+$/;

/**
 * Whether a Slack user may decide under `policy`: listed by user id, or a member of a listed user
 * group (resolved now through `usergroups.users.list`, so a removal takes effect at once). With
 * per-issuer groups (a policy change), a user listed directly for some groups is also looked up in
 * the user groups the other groups list, so the vote counts there too (one user group at most).
 */
export async function allowedApprover(client: WebClient, policy: Pick<ApprovalPolicy, 'approvers' | 'groups'>, userId: string): Promise<Allowance> {
  const direct = policy.approvers.includes(userId);
  const uncovered = direct ? (policy.groups ?? []).filter((g) => !g.approvers.includes(userId)) : undefined;
  if (direct && uncovered!.length === 0) return { allowed: true };
  const candidates = uncovered ? [...new Set(uncovered.flatMap((g) => g.approvers))] : policy.approvers;
  for (const group of candidates.filter((a) => GROUP.test(a))) {
    // A directly listed user is allowed whatever Slack answers; the lookup only widens where the vote counts.
    const res = await client.usergroups.users.list({ usergroup: group }).catch((e: unknown) => {
      if (direct) return undefined;
      throw e;
    });
    if (res?.ok && res.users?.includes(userId)) return { allowed: true, viaGroup: group };
  }
  return direct ? { allowed: true } : { allowed: false };
}
