import type { WebClient } from '@slack/web-api';
import { MAX_GROUP_CLAIMS } from '../agents/approvals/attestation.js';
import { SLACK_USER_GROUP } from '../agents/approvals/quorum.js';
import type { ApprovalPolicy } from '../agents/planner/policy-types.js';

export type Allowance = { allowed: true; viaGroup?: string; viaGroups?: string[] } | { allowed: false };

/**
 * Whether a Slack user may decide under `policy`: listed by user id, or a member of a listed user
 * group (resolved now through `usergroups.users.list`, so a removal takes effect at once). With
 * per-issuer groups (a policy change), the user groups of every group that does not list the user
 * directly are looked up too, until each such group is covered, so the vote counts wherever the
 * user may approve: `viaGroup` names the first user group found, `viaGroups` all of them when more.
 */
export async function allowedApprover(client: WebClient, policy: Pick<ApprovalPolicy, 'approvers' | 'groups'>, userId: string): Promise<Allowance> {
  const direct = policy.approvers.includes(userId);
  const needs = policy.groups?.length ? policy.groups.filter((g) => !g.approvers.includes(userId)).map((g) => g.approvers) : direct ? [] : [policy.approvers];
  const found: string[] = [];
  const uncovered = () => needs.filter((approvers) => !approvers.some((a) => found.includes(a)));
  for (const group of [...new Set(needs.flat())].filter((a) => SLACK_USER_GROUP.test(a))) {
    const open = uncovered();
    if (open.length === 0 || found.length === MAX_GROUP_CLAIMS) break;
    if (!open.some((approvers) => approvers.includes(group))) continue;
    // Once the user is allowed, further lookups only widen where the vote counts: their errors are ignored.
    const res = await client.usergroups.users.list({ usergroup: group }).catch((e: unknown) => {
      if (direct || found.length > 0) return undefined;
      throw e;
    });
    if (res?.ok && res.users?.includes(userId)) found.push(group);
  }
  if (!direct && found.length === 0) return { allowed: false };
  return { allowed: true, ...(found.length ? { viaGroup: found[0] } : {}), ...(found.length > 1 ? { viaGroups: found } : {}) };
}
