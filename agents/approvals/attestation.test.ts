import { describe, expect, it } from 'vitest';
import { signRawAttestation } from '../../test/support/raw-attestation.js';
import type { ApprovalPolicy } from '../planner/policy-types.js';
import { expiredAt, expiryJudgedAt, signAttestation, verifyAttestation, type ChannelKey } from './attestation.js';
import { generateChannelKey } from './channel-keys.js';
import { refuseVote, type Vote } from './quorum.js';

const run = { workflowId: 'rotation-1', runId: '11111111-1111-4111-8111-111111111111', planHash: 'a'.repeat(64) };
const expectation = { ...run, allowedChannels: ['slack', 'cli'] as Array<'slack' | 'cli'>, now: new Date() };
const policy: ApprovalPolicy = { approvers: ['cli:alice', 'S0SECURITY'], quorum: 1, timeoutSeconds: 600, escalationIntervalSeconds: 60, channels: ['slack', 'cli'] };

async function channelKey(channel: 'slack' | 'cli', approver?: string) {
  const k = await generateChannelKey();
  const registered: ChannelKey = { kid: k.kid, channel, publicJwk: k.publicJwk, ...(approver ? { approver } : {}) };
  return { signing: k, lookup: async (kid: string) => (kid === k.kid ? registered : undefined) };
}

const refusal = (p: Promise<unknown>) => p.then(() => 'accepted', (e: { details?: { why?: string } }) => e.details?.why);

describe('group membership in an attestation', () => {
  it('is refused when a CLI approver key claims it: only the Slack app looks membership up', async () => {
    const bob = await channelKey('cli', 'cli:bob');
    const jws = await signAttestation({ channel: 'cli', approver: 'cli:bob', decision: 'approve', viaGroup: 'S0SECURITY', ...run }, bob.signing);
    expect(await refusal(verifyAttestation(jws, bob.lookup, expectation))).toBe('group-claim-not-from-slack');
  });

  it('is accepted from the Slack app key', async () => {
    const app = await channelKey('slack');
    const jws = await signAttestation({ channel: 'slack', approver: 'U0CAROL', decision: 'approve', viaGroup: 'S0SECURITY', ...run }, app.signing);
    expect((await verifyAttestation(jws, app.lookup, expectation)).viaGroup).toBe('S0SECURITY');
  });

  it('refuses a list of groups claimed by a CLI approver key', async () => {
    const bob = await channelKey('cli', 'cli:bob');
    const jws = await signAttestation({ channel: 'cli', approver: 'cli:bob', decision: 'approve', viaGroups: ['S0SECURITY', 'S0OPS'], ...run }, bob.signing);
    expect(await refusal(verifyAttestation(jws, bob.lookup, expectation))).toBe('group-claim-not-from-slack');
  });

  it('accepts a list of groups from the Slack app key, and refuses one that is not a list of names', async () => {
    const app = await channelKey('slack');
    const ok = await signAttestation({ channel: 'slack', approver: 'U0CAROL', decision: 'approve', viaGroup: 'S0SECURITY', viaGroups: ['S0SECURITY', 'S0OPS'], ...run }, app.signing);
    expect((await verifyAttestation(ok, app.lookup, expectation)).viaGroups).toEqual(['S0SECURITY', 'S0OPS']);
    const bad = await signAttestation({ channel: 'slack', approver: 'U0CAROL', decision: 'approve', viaGroups: 'S0SECURITY' as unknown as string[], ...run }, app.signing);
    expect(await refusal(verifyAttestation(bad, app.lookup, expectation))).toBe('bad-group-claim');
    const user = await signAttestation({ channel: 'slack', approver: 'U0CAROL', decision: 'approve', viaGroups: ['S0SECURITY', 'U0BOB'], ...run }, app.signing);
    expect(await refusal(verifyAttestation(user, app.lookup, expectation))).toBe('bad-group-claim');
  });

  it('does not list a vote from another channel as an approver, whatever group it names', () => {
    const vote: Vote = { approver: 'cli:bob', decision: 'approve', channel: 'cli', at: new Date().toISOString(), viaGroup: 'S0SECURITY' };
    expect(refuseVote(vote, { votes: [], requester: 'cli:carol', decided: false }, policy)).toBe('not-an-approver');
    expect(refuseVote({ ...vote, approver: 'U0CAROL', channel: 'slack' }, { votes: [], requester: 'cli:carol', decided: false }, policy)).toBeUndefined();
  });
});

describe('one person under two ids', () => {
  const people: ApprovalPolicy = { ...policy, approvers: ['cli:alice', 'U0ALICE', 'cli:bob'], people: [['cli:alice', 'U0ALICE']] };
  const vote = (approver: string, channel: string): Vote => ({ approver, decision: 'approve', channel, at: new Date().toISOString() });

  it('cannot approve their own run through their other id', () => {
    expect(refuseVote(vote('U0ALICE', 'slack'), { votes: [], requester: 'cli:alice', decided: false }, people)).toBe('self-approval');
  });

  it('counts once: a second vote through the other id is already-voted', () => {
    expect(refuseVote(vote('U0ALICE', 'slack'), { votes: [vote('cli:alice', 'cli')], requester: 'cli:carol', decided: false }, people)).toBe('already-voted');
    expect(refuseVote(vote('cli:bob', 'cli'), { votes: [vote('cli:alice', 'cli')], requester: 'cli:carol', decided: false }, people)).toBeUndefined();
  });
});


describe('what an attestation may say', () => {
  const now = Math.floor(Date.now() / 1000);
  const body = { channel: 'cli', approver: 'cli:bob', decision: 'approve', ...run, iat: now, exp: now + 300, jti: '0b1e5d7c-3c4f-4f7a-9a52-2d1f0e6b8c11' };

  it('is taken when signed by hand with every member well formed', async () => {
    const bob = await channelKey('cli', 'cli:bob');
    expect(await refusal(verifyAttestation(await signRawAttestation(body, bob.signing), bob.lookup, expectation))).toBe('accepted');
  });

  it('is refused as malformed when its payload is not an object of claims', async () => {
    const bob = await channelKey('cli', 'cli:bob');
    for (const payload of [null, [], 'approve', 42]) {
      expect(await refusal(verifyAttestation(await signRawAttestation(payload, bob.signing), bob.lookup, expectation))).toBe('malformed-claims');
    }
  });

  it('is refused as malformed without a UUID jti, a whole-number iat and exp, or with a reason that is not short text', async () => {
    const bob = await channelKey('cli', 'cli:bob');
    const { jti: _jti, ...noJti } = body;
    for (const bad of [noJti, { ...body, jti: 'x'.repeat(300) }, { ...body, iat: String(now) }, { ...body, exp: now + 0.5 }, { ...body, reason: { text: 'no' } }, { ...body, reason: 'r'.repeat(2001) }]) {
      expect(await refusal(verifyAttestation(await signRawAttestation(bad, bob.signing), bob.lookup, expectation))).toBe('malformed-claims');
    }
  });

  it('is refused before any key lookup when its header names a kid that is not a key thumbprint (a NUL byte PostgreSQL would refuse on every retry)', async () => {
    const bob = await channelKey('cli', 'cli:bob');
    let looked = 0;
    const lookup = async (kid: string) => (looked++, bob.lookup(kid));
    for (const kid of ['\u0000', 'a b', 'k'.repeat(129)]) {
      expect(await refusal(verifyAttestation(await signRawAttestation(body, { ...bob.signing, kid }), lookup, expectation))).toBe('bad-header');
    }
    expect(looked).toBe(0);
  });

  it('is refused as malformed with a control character in an id, or one other than tab or a line break in its reason', async () => {
    const bob = await channelKey('cli', 'cli:bob');
    for (const bad of [{ ...body, workflowId: 'rotation-1\u0000' }, { ...body, reason: 'no\u0000' }, { ...body, reason: 'bell\u0007' }]) {
      expect(await refusal(verifyAttestation(await signRawAttestation(bad, bob.signing), bob.lookup, expectation))).toBe('malformed-claims');
    }
    expect(await refusal(verifyAttestation(await signRawAttestation({ ...body, reason: 'line one\nline two\tend' }, bob.signing), bob.lookup, expectation))).toBe('accepted');
  });

  it('is refused when signed to last longer than 5 minutes, or dated ahead of the clock', async () => {
    const bob = await channelKey('cli', 'cli:bob');
    const tenYears = { ...body, iat: now - 365 * 86_400, exp: now + 10 * 365 * 86_400 };
    const ahead = { ...body, iat: now + 3_600, exp: now + 3_900 };
    for (const bad of [tenYears, ahead]) {
      expect(await refusal(verifyAttestation(await signRawAttestation(bad, bob.signing), bob.lookup, expectation))).toBe('lifetime');
    }
  });

  it('is refused as expired 5 seconds past its exp', async () => {
    const bob = await channelKey('cli', 'cli:bob');
    const old = { ...body, iat: now - 306, exp: now - 6 };
    expect(await refusal(verifyAttestation(await signRawAttestation(old, bob.signing), bob.lookup, expectation))).toBe('expired');
  });

  it('is not signed with a reason longer than 2000 characters: REASON_TOO_LONG, before anything is signed', async () => {
    const bob = await channelKey('cli', 'cli:bob');
    await expect(signAttestation({ channel: 'cli', approver: 'cli:bob', decision: 'reject', reason: 'r'.repeat(2001), ...run }, bob.signing)).rejects.toMatchObject({ code: 'REASON_TOO_LONG' });
  });
});

describe('when an attestation\'s expiry is judged', () => {
  const now = new Date('2026-11-30T12:10:00Z');

  it('is when its signal reached the run, for a check held back past its exp', () => {
    expect(expiryJudgedAt('2026-11-30T12:00:05Z', now)).toEqual(new Date('2026-11-30T12:00:05Z'));
  });

  it('is now when the arrival time is unknown (runs started before it was recorded)', () => {
    expect(expiryJudgedAt(undefined, now)).toEqual(now);
  });

  it('is now when the signal arrived more than an hour before', () => {
    expect(expiryJudgedAt('2026-11-30T11:09:59Z', now)).toEqual(now);
    expect(expiryJudgedAt('2026-11-30T11:10:00Z', now)).toEqual(new Date('2026-11-30T11:10:00Z'));
  });

  it('finds an attestation expired 5 seconds past its exp, not before', () => {
    const exp = Math.floor(now.getTime() / 1000);
    expect([expiredAt({ exp }, new Date(now.getTime() + 5_000)), expiredAt({ exp }, new Date(now.getTime() + 6_000))]).toEqual([false, true]);
  });

  it('is now when the arrival time claims to be later than now, or is no time at all', () => {
    expect(expiryJudgedAt('2026-11-30T13:00:00Z', now)).toEqual(now);
    expect(expiryJudgedAt('soon', now)).toEqual(now);
  });
});
