import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { approvalsPolicy, ISSUER, SIGNING_SECRET, startHarness, waitingRun, type Harness } from './support/harness.js';
import { form, sendSigned, slashCommand } from './support/signed.js';

/** A /keyturn command as Slack sends it, signed. */
const command = (h: Harness, user: string, text: string) => sendSigned(h.url, form(slashCommand(h.workspace, { user, text })), { secret: SIGNING_SECRET });
/** What the app answered through the commands' response URLs. */
const answers = (h: Harness) => h.slack.callsTo('response_url').map((c) => String(c.args.text));

describe('/keyturn slash command', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => h.stop());

  it('rotate by a listed user starts a rotation with them as requester and answers with the run', async () => {
    expect((await command(h, 'U0ALICE', `rotate ${ISSUER} suspected leak of the old key`)).status).toBe(200);
    expect(await h.nextHandled()).toMatchObject({ interaction: 'command', outcome: 'answered' });
    expect(h.port.started).toEqual([{ issuer: ISSUER, reason: 'suspected leak of the old key', requester: 'U0ALICE' }]);
    expect(answers(h)).toEqual([expect.stringContaining('rotate-test-1')]);
  });

  it('rotate by a user the policy does not list starts nothing', async () => {
    await command(h, 'U0MALLORY', `rotate ${ISSUER} because`);
    expect(await h.nextHandled()).toMatchObject({ outcome: 'refused' });
    expect(h.port.started).toEqual([]);
    expect(answers(h)).toEqual([expect.stringContaining('not allowed')]);
  });

  it('rotate of an issuer not in the policy starts nothing', async () => {
    await command(h, 'U0ALICE', 'rotate https://unknown.example.test because');
    expect(await h.nextHandled()).toMatchObject({ outcome: 'refused' });
    expect(h.port.started).toEqual([]);
  });

  it('status lists the runs for a listed user', async () => {
    h.port.runs.set('rotate-x', waitingRun({ workflowId: 'rotate-x' }));
    await command(h, 'U0ALICE', 'status');
    expect(await h.nextHandled()).toMatchObject({ outcome: 'answered' });
    expect(answers(h)).toEqual([expect.stringContaining('rotate-x')]);
  });

  it('revoke answers that it is not yet available when the port cannot revoke', async () => {
    await command(h, 'U0ALICE', 'revoke kid abc');
    expect(await h.nextHandled()).toMatchObject({ outcome: 'answered' });
    expect(answers(h)).toEqual([expect.stringContaining('not yet available')]);
  });
});

describe('/keyturn revoke is for the affected issuer\'s approvers only', () => {
  const OTHER = 'https://payments.example.test';
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness({ canRevoke: true, otherIssuers: { [OTHER]: approvalsPolicy({ approvers: ['U0PAYLEAD'] }) } });
    h.port.kids.set('kid-of-payments', OTHER);
  });
  afterEach(async () => h.stop());

  it('an approver of another issuer cannot revoke a key of this one, and is not told whose key it is: nothing is contained', async () => {
    await command(h, 'U0ALICE', 'revoke kid kid-of-payments looks leaked');
    expect(await h.nextHandled()).toMatchObject({ outcome: 'refused' });
    expect(h.port.revocations).toEqual([]);
    expect(answers(h)).toEqual([expect.stringContaining('belongs to an issuer you approve for')]);
    expect(answers(h)[0]).not.toContain(OTHER);
  });

  it('an approver of another issuer cannot revoke a subject of this one', async () => {
    await command(h, 'U0ALICE', `revoke sub some-client ${OTHER} looks leaked`);
    expect(await h.nextHandled()).toMatchObject({ outcome: 'refused' });
    expect(h.port.revocations).toEqual([]);
  });

  it('a subject with live tokens from another issuer too cannot be revoked by an approver of one, who is not told which issuer: the deny-list is not per issuer', async () => {
    h.port.tokens.set('sub:shared-client', [ISSUER, OTHER]);
    await command(h, 'U0ALICE', `revoke sub shared-client ${ISSUER} looks leaked`);
    expect(await h.nextHandled()).toMatchObject({ outcome: 'refused' });
    expect(h.port.revocations).toEqual([]);
    expect(answers(h)).toEqual([expect.stringContaining('an issuer you do not approve for')]);
    expect(answers(h)[0]).not.toContain(OTHER);
  });

  it('an approver of both issuers is told which other issuer a subject has tokens of when its policy keeps Slack out', async () => {
    await h.stop();
    h = await startHarness({ canRevoke: true, otherIssuers: { [OTHER]: approvalsPolicy({ approvers: ['U0ALICE'], channels: ['cli'] }) } });
    h.port.tokens.set('sub:shared-client', [ISSUER, OTHER]);
    await command(h, 'U0ALICE', `revoke sub shared-client ${ISSUER} looks leaked`);
    expect(await h.nextHandled()).toMatchObject({ outcome: 'refused' });
    expect(answers(h)).toEqual([expect.stringMatching(new RegExp(`${OTHER.replace(/[.]/g, '\\.')}.*keyturn CLI`))]);
  });

  it('a kid keyturn does not know is refused before anything starts, with the same answer as another issuer\'s kid', async () => {
    await command(h, 'U0PAYLEAD', 'revoke kid no-such-kid looks leaked');
    expect(await h.nextHandled()).toMatchObject({ outcome: 'refused' });
    expect(h.port.revocations).toEqual([]);
    expect(answers(h)).toEqual(['No signing key with kid `no-such-kid` belongs to an issuer you approve for.']);
  });

  it('the issuer\'s own approver starts the revocation', async () => {
    await command(h, 'U0PAYLEAD', 'revoke kid kid-of-payments looks leaked');
    expect(await h.nextHandled()).toMatchObject({ outcome: 'answered' });
    expect(h.port.revocations).toEqual([{ kind: 'kid', value: 'kid-of-payments', reason: 'looks leaked', requester: 'U0PAYLEAD' }]);
  });
});

describe("/keyturn status shows only the runs of issuers the person approves for", () => {
  const OTHER = 'https://payments.example.test';
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness({ otherIssuers: { [OTHER]: approvalsPolicy({ approvers: ['U0PAYLEAD'] }) } });
    h.port.runs.set('rotate-auth', waitingRun({ workflowId: 'rotate-auth' }));
    h.port.runs.set('rotate-payments', waitingRun({ workflowId: 'rotate-payments', subject: OTHER }));
  });
  afterEach(async () => h.stop());

  it("an approver of one issuer is listed that issuer's runs and not another's", async () => {
    await command(h, 'U0ALICE', 'status');
    expect(await h.nextHandled()).toMatchObject({ outcome: 'answered' });
    const [text] = answers(h);
    expect(text).toContain('rotate-auth');
    expect(text).not.toContain('rotate-payments');
  });

  it("asking for another issuer's run by its id answers as for an unknown run, without its state", async () => {
    await command(h, 'U0ALICE', 'status rotate-payments');
    expect(await h.nextHandled()).toMatchObject({ outcome: 'answered' });
    expect(answers(h)).toEqual([expect.stringMatching(/^No rotation or revocation `rotate-payments` of an issuer you approve for\.$/)]);
  });

  it('an approver of both issuers is listed the runs of both', async () => {
    await h.stop();
    h = await startHarness({ otherIssuers: { [OTHER]: approvalsPolicy({ approvers: ['U0ALICE'] }) } });
    h.port.runs.set('rotate-auth', waitingRun({ workflowId: 'rotate-auth' }));
    h.port.runs.set('rotate-payments', waitingRun({ workflowId: 'rotate-payments', subject: OTHER }));
    await command(h, 'U0ALICE', 'status');
    await h.nextHandled();
    expect(answers(h)).toEqual([expect.stringMatching(/rotate-auth[\s\S]*rotate-payments/)]);
  });
});

describe('/keyturn for an issuer whose policy does not take approvals from Slack', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness({ canRevoke: true, policy: approvalsPolicy({ channels: ['cli'] }) });
    h.port.kids.set('kid-of-auth', ISSUER);
  });
  afterEach(async () => h.stop());

  it('rotate by a listed approver starts nothing and points to the CLI', async () => {
    await command(h, 'U0ALICE', `rotate ${ISSUER} suspected leak`);
    expect(await h.nextHandled()).toMatchObject({ outcome: 'refused' });
    expect(h.port.started).toEqual([]);
    expect(answers(h)).toEqual([expect.stringContaining('keyturn CLI')]);
  });

  it('revoke by a listed approver contains nothing and points to the CLI', async () => {
    await command(h, 'U0ALICE', 'revoke kid kid-of-auth looks leaked');
    expect(await h.nextHandled()).toMatchObject({ outcome: 'refused' });
    expect(h.port.revocations).toEqual([]);
    expect(answers(h)).toEqual([expect.stringContaining('keyturn CLI')]);
  });
});
