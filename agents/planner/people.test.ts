import { describe, expect, it } from 'vitest';
import { mergePeople, personOf, samePerson } from './people.js';

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
