import { describe, expect, it } from 'vitest';
import { mergePeople, personOf, samePerson, unlinkedCliApprovers } from './people.js';

const approvals = { people: [['cli:alice', 'U0ALICE']] };

describe('people with several ids', () => {
  it('count every id of a person as that person, and anyone else as themself', () => {
    expect(personOf(approvals, 'U0ALICE')).toBe(personOf(approvals, 'cli:alice'));
    expect(personOf(approvals, 'U0BOB')).toBe('U0BOB');
  });

  it('recognise a Slack requester label (slack:U…) as the person behind it', () => {
    expect(samePerson(approvals, 'slack:U0ALICE', 'cli:alice')).toBe(true);
    expect(samePerson(approvals, 'slack:U0BOB', 'cli:alice')).toBe(false);
  });

  it('merge the groups of several issuers that share an id into one person', () => {
    expect(mergePeople([['U0ALICE', 'cli:alice'], ['cli:alice', 'W0ALICE'], ['cli:bob', 'U0BOB']]).map((g) => g.sort())).toEqual([
      ['U0ALICE', 'W0ALICE', 'cli:alice'],
      ['U0BOB', 'cli:bob'],
    ]);
  });
});

describe('CLI approvers not linked to a Slack id', () => {
  const both = { approvers: ['cli:alice', 'cli:bob', 'U0ALICE'], channels: ['slack', 'cli'] as Array<'slack' | 'cli'> };

  it('are named when the approvals take both channels and list Slack approvers too', () => {
    expect(unlinkedCliApprovers({ ...both, people: [['cli:alice', 'U0ALICE']] })).toEqual(['cli:bob']);
  });

  it('are none when only one channel is allowed, or no Slack approver is listed', () => {
    expect(unlinkedCliApprovers({ ...both, channels: ['cli'] })).toEqual([]);
    expect(unlinkedCliApprovers({ ...both, approvers: ['cli:alice', 'cli:bob'] })).toEqual([]);
  });

  it('a link between two CLI ids does not count as a link to Slack', () => {
    expect(unlinkedCliApprovers({ ...both, people: [['cli:alice', 'cli:bob']] })).toEqual(['cli:alice', 'cli:bob']);
  });
});
