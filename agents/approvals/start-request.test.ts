import { describe, expect, it } from 'vitest';
import { signAttestation, type ChannelKey } from './attestation.js';
import { generateChannelKey } from './channel-keys.js';
import { parsePolicy } from '../planner/policy.js';
import { issuerWith, policyDoc } from '../planner/policy-fixtures.js';
import type { IssuerPolicy } from '../planner/policy-types.js';
import { checkStartRequest, rotationDue, signedStart, signStartRequest, startRequestDigest, startSignatureRequired, startSigner, type StartRequest } from './start-request.js';

async function channelKey(channel: 'slack' | 'cli', approver?: string) {
  const k = await generateChannelKey();
  const registered: ChannelKey = { kid: k.kid, channel, publicJwk: k.publicJwk, ...(approver ? { approver } : {}) };
  return { signing: k, kid: k.kid, lookup: async (kid: string) => (kid === k.kid ? registered : undefined) };
}

const NONCE = 't1_AAAAAAAAAAAAAAAAAAAAAA';
const rotationArgs = { issuer: 'https://a.example', reason: 'quarterly', requester: { kind: 'cli' as const, id: 'cli:alice' }, planId: 'p1', startNonce: NONCE };

/** A rotation run wf-1 started by `requester`, signed by `signer` unless it is undefined. */
async function rotationStart(o: { signer?: ReturnType<typeof startSigner>; requester?: string; requesterKind?: 'cli' | 'slack' | 'schedule' } = {}): Promise<StartRequest> {
  const requester = o.requester ?? 'cli:alice';
  const args = { ...rotationArgs, requester: { kind: o.requesterKind ?? 'cli', id: requester } };
  const request = await signedStart(args, { kind: 'rotation', workflowId: 'wf-1', requester, signer: o.signer });
  return { kind: 'rotation', workflowId: 'wf-1', requester, requesterKind: o.requesterKind ?? 'cli', request };
}

const check = (start: StartRequest, lookup: (kid: string) => Promise<ChannelKey | undefined>, required = false, now = new Date()) => checkStartRequest(start, lookup, { required, now });
const refusal = (p: Promise<unknown>) => p.then(() => 'accepted', (e: { code?: string; details?: { why?: string } }) => e.details?.why ?? e.code);

describe('a signed start request', () => {
  it('verifies the requester when their own CLI key signed it', async () => {
    const alice = await channelKey('cli', 'cli:alice');
    expect(await check(await rotationStart({ signer: startSigner('cli', alice.signing) }), alice.lookup, true)).toEqual({ verified: true, channel: 'cli', kid: alice.kid });
  });

  it('verifies a Slack user vouched for by the Slack app key', async () => {
    const app = await channelKey('slack');
    const start = await rotationStart({ signer: startSigner('slack', app.signing), requester: 'U0ALICE', requesterKind: 'slack' });
    expect(await check(start, app.lookup, true)).toEqual({ verified: true, channel: 'slack', kid: app.kid });
  });

  it('is refused when one approver key names another requester', async () => {
    const bob = await channelKey('cli', 'cli:bob');
    expect(await refusal(check(await rotationStart({ signer: startSigner('cli', bob.signing) }), bob.lookup))).toBe('requester-not-key-owner');
  });

  it('is refused when the Slack app key names a CLI requester: it vouches only for Slack users', async () => {
    const app = await channelKey('slack');
    expect(await refusal(check(await rotationStart({ signer: startSigner('slack', app.signing) }), app.lookup))).toBe('requester-not-key-owner');
  });

  it('is refused when the run names a requester other than the one who signed', async () => {
    const alice = await channelKey('cli', 'cli:alice');
    const start = await rotationStart({ signer: startSigner('cli', alice.signing) });
    expect(await refusal(check({ ...start, requester: 'cli:bob' }, alice.lookup))).toBe('other-requester');
  });

  it('is refused when a Slack user id is signed for but the run calls its requester a CLI one', async () => {
    const app = await channelKey('slack');
    const start = await rotationStart({ signer: startSigner('slack', app.signing), requester: 'U0ALICE', requesterKind: 'cli' });
    expect(await refusal(check(start, app.lookup))).toBe('other-requester');
  });

  it('is refused on another run: the signature names its workflow id', async () => {
    const alice = await channelKey('cli', 'cli:alice');
    const start = await rotationStart({ signer: startSigner('cli', alice.signing) });
    expect(await refusal(check({ ...start, workflowId: 'wf-2' }, alice.lookup))).toBe('other-run');
  });

  it('is refused under another nonce: a signed start is used once, like its nonce', async () => {
    const alice = await channelKey('cli', 'cli:alice');
    const start = await rotationStart({ signer: startSigner('cli', alice.signing) });
    expect(await refusal(check({ ...start, request: { ...start.request, startNonce: 't1_BBBBBBBBBBBBBBBBBBBBBB' } }, alice.lookup))).toBe('other-start');
  });

  it('is refused when the request was changed after signing', async () => {
    const alice = await channelKey('cli', 'cli:alice');
    const start = await rotationStart({ signer: startSigner('cli', alice.signing) });
    expect(await refusal(check({ ...start, request: { ...start.request, reason: 'something else' } as StartRequest['request'] }, alice.lookup))).toBe('request-changed');
  });

  it('is refused when its key is not registered (or was disabled)', async () => {
    const alice = await channelKey('cli', 'cli:alice');
    expect(await refusal(check(await rotationStart({ signer: startSigner('cli', alice.signing) }), async () => undefined))).toBe('unknown-channel-key');
  });

  it('is never an approval attestation, nor the reverse: the JWS type differs', async () => {
    const alice = await channelKey('cli', 'cli:alice');
    const attestation = await signAttestation({ channel: 'cli', approver: 'cli:alice', decision: 'approve', workflowId: 'wf-1', runId: '11111111-1111-4111-8111-111111111111', planHash: 'a'.repeat(64) }, alice.signing);
    const start = await rotationStart();
    expect(await refusal(check({ ...start, request: { ...start.request, startProof: attestation } }, alice.lookup))).toBe('bad-header');
  });

  it('is refused once expired, seven days after it was signed', async () => {
    const alice = await channelKey('cli', 'cli:alice');
    const start = await rotationStart({ signer: startSigner('cli', alice.signing) });
    expect(await refusal(check(start, alice.lookup, false, new Date(Date.now() + 8 * 86_400_000)))).toBe('expired');
  });

  const signedAt = async (alice: Awaited<ReturnType<typeof channelKey>>, at: Date) => {
    const start = await rotationStart();
    const startProof = await signStartRequest({ channel: 'cli', requester: 'cli:alice', kind: 'rotation', workflowId: 'wf-1', startNonce: NONCE, requestDigest: startRequestDigest(start.request) }, alice.signing, at);
    return { ...start, request: { ...start.request, startProof } };
  };

  it('is taken from a starter whose clock runs a few minutes ahead, as its nonce is', async () => {
    const alice = await channelKey('cli', 'cli:alice');
    expect(await check(await signedAt(alice, new Date(Date.now() + 120_000)), alice.lookup)).toMatchObject({ verified: true });
  });

  it('is refused when signed more than ten minutes in the future', async () => {
    const alice = await channelKey('cli', 'cli:alice');
    expect(await refusal(check(await signedAt(alice, new Date(Date.now() + 20 * 60_000)), alice.lookup))).toBe('lifetime');
  });

  it('is refused when the key is of another channel than the statement claims', async () => {
    const alice = await channelKey('cli', 'cli:alice');
    expect(await refusal(check(await rotationStart({ signer: startSigner('slack', alice.signing) }), alice.lookup))).toBe('channel-mismatch');
  });

  it('is refused for another kind of run than it was signed for', async () => {
    const alice = await channelKey('cli', 'cli:alice');
    const start = await rotationStart({ signer: startSigner('cli', alice.signing) });
    expect(await refusal(check({ ...start, kind: 'revocation' }, alice.lookup))).toBe('other-run');
  });
});

describe('an unsigned start request', () => {
  const nobody = async () => undefined;

  it('is taken with its requester marked unverified when the policy does not require signatures', async () => {
    expect(await check(await rotationStart(), nobody)).toEqual({ verified: false, because: 'unsigned' });
  });

  it('is refused with START_UNSIGNED when the policy requires signed starts', async () => {
    expect(await refusal(check(await rotationStart(), nobody, true))).toBe('START_UNSIGNED');
  });

  it("is taken for a rotation its issuer's schedule started, even when signatures are required: it names no person", async () => {
    const start = await rotationStart({ requester: 'schedule:https://a.example', requesterKind: 'schedule' });
    expect(await check({ ...start, startedBySchedule: async () => true, rotationDue: true }, nobody, true)).toEqual({ verified: false, because: 'schedule' });
  });

  it("is refused for a rotation its issuer's schedule started when no rotation is due, when signatures are required: whoever can write to Temporal can trigger the schedule", async () => {
    const start = await rotationStart({ requester: 'schedule:https://a.example', requesterKind: 'schedule' });
    expect(await refusal(check({ ...start, startedBySchedule: async () => true, rotationDue: false }, nobody, true))).toBe('START_UNSIGNED');
  });

  it("is refused for a rotation named for its issuer's schedule that the schedule did not start, when signatures are required", async () => {
    const start = await rotationStart({ requester: 'schedule:https://a.example', requesterKind: 'schedule' });
    expect(await refusal(check({ ...start, startedBySchedule: async () => false, rotationDue: true }, nobody, true))).toBe('START_UNSIGNED');
  });

  it("is taken for a rotation named for its issuer's schedule without asking the schedule, when signatures are not required", async () => {
    const start = await rotationStart({ requester: 'schedule:https://a.example', requesterKind: 'schedule' });
    expect(await check({ ...start, startedBySchedule: async () => false }, nobody, false)).toEqual({ verified: false, because: 'schedule' });
  });

  it("is refused when it claims to come from another issuer's schedule", async () => {
    const start = await rotationStart({ requester: 'schedule:https://other.example', requesterKind: 'schedule' });
    expect(await refusal(check(start, nobody, true))).toBe('START_UNSIGNED');
  });

  it('is refused when it claims to come from a schedule but names a person', async () => {
    const start = await rotationStart({ requester: 'cli:bob', requesterKind: 'schedule' });
    expect(await refusal(check(start, nobody, true))).toBe('START_UNSIGNED');
  });

  it('is refused for a revocation that names a schedule: schedules only rotate', async () => {
    const start: StartRequest = { kind: 'revocation', workflowId: 'wf-1', requester: 'schedule:x', requesterKind: 'schedule', request: { startNonce: NONCE } };
    expect(await refusal(check(start, nobody, true))).toBe('START_UNSIGNED');
  });
});

describe('whether a rotation is due, for the unsigned rotations of a schedule', () => {
  const period = 90 * 86_400;
  const now = new Date('2026-11-30T00:00:00Z');
  const activatedDaysAgo = (days: number) => ({ activatedAt: new Date(now.getTime() - days * 86_400_000).toISOString() });

  it('is due for an issuer without an active key', () => {
    expect(rotationDue(undefined, period, now)).toBe(true);
  });

  it('is due once the active key has served half its rotation period', () => {
    expect([rotationDue(activatedDaysAgo(44), period, now), rotationDue(activatedDaysAgo(45), period, now)]).toEqual([false, true]);
  });

  it('is not due for an active key whose activation time is unknown', () => {
    expect(rotationDue({}, period, now)).toBe(false);
  });
});

describe('whether a run must be started signed', () => {
  const flagged = issuerWith({ approvals: { requireSignedStart: true } });
  const other = issuerWith({ issuer: 'https://other.example.test' });
  const policy = parsePolicy(policyDoc(flagged, other));
  const [a, b] = policy.issuers as [IssuerPolicy, IssuerPolicy];

  it('is its own issuer’s choice for a rotation or a key revocation', () => {
    expect([startSignatureRequired(policy, { kind: 'rotation', issuers: [a] }), startSignatureRequired(policy, { kind: 'rotation', issuers: [b] })]).toEqual([true, false]);
    expect(startSignatureRequired(policy, { kind: 'key-revocation', issuers: [b] })).toBe(false);
  });

  it('holds for a jti, sub or unheld kid revocation naming an issuer without the flag when another issuer sets it: its deny-list entry refuses tokens of every issuer', () => {
    expect(startSignatureRequired(policy, { kind: 'deny-list-revocation' })).toBe(true);
  });

  it('holds for a policy change when any issuer in force sets it', () => {
    expect(startSignatureRequired(policy, { kind: 'policy-change' })).toBe(true);
    expect(startSignatureRequired(parsePolicy(policyDoc(other)), { kind: 'policy-change' })).toBe(false);
  });
});
