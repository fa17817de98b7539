import type { ApprovalPolicy } from './policy-types.js';

/** The id a person is counted by: the first id of their `people` group in the policy, or the id itself. */
export function personOf(approvals: Pick<ApprovalPolicy, 'people'>, id: string): string {
  return approvals.people?.find((ids) => ids.includes(id))?.[0] ?? id;
}

/** Whether two ids (a Slack user id, cli:<name>, or a requester label such as slack:U…) are one person. */
export function samePerson(approvals: Pick<ApprovalPolicy, 'people'>, a: string, b: string): boolean {
  const bare = (id: string) => id.replace(/^slack:/, '');
  return personOf(approvals, bare(a)) === personOf(approvals, bare(b));
}

/** People groups from several issuers as one list: groups that share an id are one person. */
export function mergePeople(groups: readonly (readonly string[])[]): string[][] {
  const merged: string[][] = [];
  for (const group of groups) {
    const overlapping = merged.filter((m) => m.some((id) => group.includes(id)));
    const union = [...new Set([...overlapping.flat(), ...group])];
    for (const m of overlapping) merged.splice(merged.indexOf(m), 1);
    merged.push(union);
  }
  return merged;
}

/**
 * The `cli:` approvers of approvals that take votes from both channels and list Slack approvers
 * too, but that no `people` group links to a Slack id: someone holding both ids could approve,
 * under one, a run they requested under the other, and keyturn would count two people.
 */
export function unlinkedCliApprovers(approvals: Pick<ApprovalPolicy, 'approvers' | 'channels' | 'people'>): string[] {
  if (!approvals.channels.includes('slack') || !approvals.channels.includes('cli')) return [];
  const isCli = (id: string) => id.startsWith('cli:');
  if (!approvals.approvers.some((id) => !isCli(id))) return [];
  return approvals.approvers.filter((id) => isCli(id) && !(approvals.people ?? []).some((group) => group.includes(id) && group.some((other) => !isCli(other))));
}
