import type { WebClient } from '@slack/web-api';
import type { ApprovalPolicy } from '../agents/planner/policy-types.js';

export type Allowance = { allowed: true; viaGroup?: string } | { allowed: false };

const GROUP = /^S[A-Z0-9]+$/;

/**
 * Whether a Slack user may decide under `policy`: listed by user id, or a member of a listed user
 * group (resolved now through `usergroups.users.list`, so a removal takes effect at once).
 */
export async function allowedApprover(client: WebClient, policy: Pick<ApprovalPolicy, 'approvers'>, userId: string): Promise<Allowance> {
  if (policy.approvers.includes(userId)) return { allowed: true };
  for (const group of policy.approvers.filter((a) => GROUP.test(a))) {
    const res = await client.usergroups.users.list({ usergroup: group });
    if (res.ok && res.users?.includes(userId)) return { allowed: true, viaGroup: group };
  }
  return { allowed: false };
}
