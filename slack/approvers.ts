import type { WebClient } from '@slack/web-api';
import { MAX_GROUP_CLAIMS } from '../agents/approvals/attestation.js';
import { SLACK_USER_GROUP } from '../agents/approvals/quorum.js';
import type { ApprovalPolicy } from '../agents/planner/policy-types.js';

export type Allowance = { allowed: true; viaGroup?: string; viaGroups?: string[] } | { allowed: false };

/**
 * How long a user group's members, as Slack listed them, are used: every refused command or click
 * would otherwise look up every listed group again, and `usergroups.users.list` allows about 20
 * calls a minute, past which Slack's client holds every call of the app (a member could stall
 * sign-off). A failed lookup is retried after a shorter while.
 */
export const GROUP_MEMBERS_TTL_MS = 30_000;
const FAILED_LOOKUP_TTL_MS = 5_000;

const lookups = new WeakMap<WebClient, Map<string, { until: number; members: Promise<readonly string[]> }>>();

/** One lookup per group at a time and per TTL, shared by every caller of this client. */
function groupMembers(client: WebClient, group: string): Promise<readonly string[]> {
  let byGroup = lookups.get(client);
  if (!byGroup) lookups.set(client, (byGroup = new Map()));
  const cached = byGroup.get(group);
  if (cached && cached.until > Date.now()) return cached.members;
  const entry = { until: Number.POSITIVE_INFINITY, members: Promise.resolve<readonly string[]>([]) };
  entry.members = client.usergroups.users.list({ usergroup: group }).then(
    (res) => {
      entry.until = Date.now() + GROUP_MEMBERS_TTL_MS;
      return res.ok ? (res.users ?? []) : [];
    },
    (e: unknown) => {
      entry.until = Date.now() + FAILED_LOOKUP_TTL_MS;
      throw e;
    },
  );
  byGroup.set(group, entry);
  return entry.members;
}

/**
 * Whether a Slack user may decide under `policy`: listed by user id, or a member of a listed user
 * group (resolved through `usergroups.users.list`, at most {@link GROUP_MEMBERS_TTL_MS} old, so a
 * removal takes effect within that). With
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
    const members = await groupMembers(client, group).catch((e: unknown) => {
      if (direct || found.length > 0) return undefined;
      throw e;
    });
    if (members?.includes(userId)) found.push(group);
  }
  if (!direct && found.length === 0) return { allowed: false };
  return { allowed: true, ...(found.length ? { viaGroup: found[0] } : {}), ...(found.length > 1 ? { viaGroups: found } : {}) };
}
