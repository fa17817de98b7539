import { describe, expect, it } from 'vitest';
import type { ApprovalPolicy } from '../planner/policy-types.js';
import { mayReject, refuseVoteToday, tally, type Vote } from './quorum.js';

const vote = (approver: string, over: Partial<Vote> = {}): Vote => ({ approver, decision: 'approve', channel: approver.startsWith('cli:') ? 'cli' : 'slack', at: '2026-11-30T00:00:00Z', ...over });
const groups = [
  { label: 'https://a.example.test', approvers: ['U0ALICE', 'U0ANNA'], quorum: 2 },
  { label: 'https://b.example.test', approvers: ['U0BOB', 'S0BTEAM'], quorum: 1 },
];

describe('tally with per-issuer groups (policy changes)', () => {
  it("stays pending while one group lacks its own quorum, however many votes the others have", () => {
    expect(tally([vote('U0ALICE'), vote('U0ANNA')], 2, { groups })).toBe('pending');
  });

  it('is approved once every group has its own quorum', () => {
    expect(tally([vote('U0ALICE'), vote('U0ANNA'), vote('U0BOB')], 2, { groups })).toBe('approved');
  });

  it('counts a person listed in two groups for both', () => {
    const shared = [{ ...groups[0]!, approvers: ['U0ALICE'], quorum: 1 }, { ...groups[1]!, approvers: ['U0ALICE'], quorum: 1 }];
    expect(tally([vote('U0ALICE')], 1, { groups: shared })).toBe('approved');
  });

  it('counts a Slack vote for the group that lists the user group it came through, and a CLI claim of one for none', () => {
    const two = [vote('U0ALICE'), vote('U0ANNA')];
    expect(tally([...two, vote('U0BEN', { viaGroup: 'S0BTEAM' })], 2, { groups })).toBe('approved');
    expect(tally([...two, vote('cli:ben', { viaGroup: 'S0BTEAM' })], 2, { groups })).toBe('pending');
  });

  it('counts a Slack vote found in two user groups for every group that lists one of them, and a CLI claim of them for none', () => {
    const teams = [{ label: 'https://a.example.test', approvers: ['S0ATEAM'], quorum: 1 }, { label: 'https://b.example.test', approvers: ['S0BTEAM'], quorum: 1 }];
    expect(tally([vote('U0GRACE', { viaGroup: 'S0ATEAM' })], 1, { groups: teams })).toBe('pending');
    expect(tally([vote('U0GRACE', { viaGroup: 'S0ATEAM', viaGroups: ['S0ATEAM', 'S0BTEAM'] })], 1, { groups: teams })).toBe('approved');
    expect(tally([vote('cli:grace', { viaGroup: 'S0ATEAM', viaGroups: ['S0ATEAM', 'S0BTEAM'] })], 1, { groups: teams })).toBe('pending');
  });

  it('never counts a vote through a claimed "group" that is a user id', () => {
    const listsBob = [{ label: 'https://b.example.test', approvers: ['U0BOB'], quorum: 1 }];
    expect(tally([vote('U0GRACE', { viaGroups: ['S0ATEAM', 'U0BOB'] })], 1, { groups: listsBob })).toBe('pending');
  });

  it("counts one person's two ids once towards a group's quorum", () => {
    expect(tally([vote('U0ALICE'), vote('cli:alice'), vote('U0BOB')], 2, { groups: [{ ...groups[0]!, approvers: ['U0ALICE', 'cli:alice', 'U0ANNA'] }, groups[1]!], people: [['U0ALICE', 'cli:alice']] })).toBe('pending');
  });

  it('is rejected by any rejection', () => {
    expect(tally([vote('U0ALICE'), vote('U0ANNA'), vote('U0BOB', { decision: 'reject' })], 2, { groups })).toBe('rejected');
  });
});

describe('a CLI vote checked against today\'s policy too', () => {
  const today: ApprovalPolicy = { approvers: ['cli:bob'], quorum: 1, timeoutSeconds: 600, escalationIntervalSeconds: 60, channels: ['cli'] };
  const open = { votes: [], requester: 'cli:carol', decided: false };
  const cli = (approver: string): Vote => ({ approver, decision: 'approve', channel: 'cli', at: new Date().toISOString() });

  it('is refused once the person is no longer an approver', () => {
    expect(refuseVoteToday(cli('cli:alice'), open, today)).toBe('not-an-approver-in-current-policy');
  });

  it('is refused once the policy no longer allows the CLI channel', () => {
    expect(refuseVoteToday(cli('cli:bob'), open, { ...today, channels: ['slack'] })).toBe('channel-not-allowed-by-current-policy');
  });

  it('is refused once the issuer is no longer in the policy', () => {
    expect(refuseVoteToday(cli('cli:bob'), open, undefined)).toBe('issuer-not-in-current-policy');
  });

  it('is refused when today\'s people say the voter is the requester', () => {
    expect(refuseVoteToday(cli('cli:bob'), { ...open, requester: 'U0BOB' }, { ...today, people: [['cli:bob', 'U0BOB']] })).toBe('self-approval-in-current-policy');
  });

  it('counts when today\'s policy still allows it', () => {
    expect(refuseVoteToday(cli('cli:bob'), open, today)).toBeUndefined();
  });
});

describe('who may reject a revocation pinned across issuers', () => {
  const groups = [{ label: 'https://a.example.test', approvers: ['cli:alice', 'S0ATEAM'], quorum: 1 }, { label: 'https://b.example.test', approvers: ['cli:bob'], quorum: 1 }];

  it('an approver of the named issuer\'s group, directly or through a Slack user group', () => {
    expect(mayReject(vote('cli:alice', { decision: 'reject' }), { groups }, 'https://a.example.test')).toBe(true);
    expect(mayReject(vote('U0ANN', { decision: 'reject', viaGroup: 'S0ATEAM' }), { groups }, 'https://a.example.test')).toBe(true);
  });

  it('not an approver of another affected issuer only', () => {
    expect(mayReject(vote('cli:bob', { decision: 'reject' }), { groups }, 'https://a.example.test')).toBe(false);
  });

  it('anyone who may vote, when the run pinned no groups', () => {
    expect(mayReject(vote('cli:bob', { decision: 'reject' }), {}, 'https://a.example.test')).toBe(true);
  });
});
