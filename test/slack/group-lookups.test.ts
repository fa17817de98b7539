import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { approvalsPolicy, SIGNING_SECRET, startHarness, type Harness } from './support/harness.js';
import { form, sendSigned, slashCommand } from './support/signed.js';

// Any workspace member, listed nowhere in the policy, can make the app look up user groups:
// usergroups.users.list allows about 20 calls a minute per app, and past it Slack's client holds
// every call of the app (group lookups of real approvers, views.open, replies).
describe('user-group lookups a non-approver can cause', () => {
  let h: Harness;
  const command = (user: string, text: string) => sendSigned(h.url, form(slashCommand(h.workspace, { user, text })), { secret: SIGNING_SECRET });

  beforeEach(async () => {
    h = await startHarness({
      policy: approvalsPolicy({ approvers: ['U0ALICE', 'S0LEADS'] }),
      otherIssuers: {
        'https://payments.example.test': approvalsPolicy({ approvers: ['S0PAY'] }),
        'https://partners.example.test': approvalsPolicy({ approvers: ['S0PARTNERS'] }),
      },
      groups: { S0LEADS: ['U0GRACE'], S0PAY: ['U0PAYLEAD'], S0PARTNERS: ['U0PARTNER'] },
    });
  });
  afterEach(async () => h.stop());

  it('are made once per group while its members are remembered, not again for every refused command', async () => {
    const lookups = () => h.slack.callsTo('usergroups.users.list').length;
    await command('U0MALLORY', 'status');
    expect(await h.nextHandled()).toMatchObject({ outcome: 'refused' });
    const afterOne = lookups();
    expect(afterOne).toBe(3); // one per issuer's user group, for one refused command
    for (let i = 0; i < 20; i++) {
      await command('U0MALLORY', 'status');
      expect(await h.nextHandled()).toMatchObject({ outcome: 'refused' });
    }
    // Before: 21 refused commands made 63 calls of a method Slack allows about 20 times a minute.
    expect(lookups()).toBe(afterOne);
  });
});
