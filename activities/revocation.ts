import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { noticeSeq, workflowOfNotice } from '../agents/revocation-responder/notice-seq.js';
import { noticeConcerns, recordRunConcerns } from '../agents/revocation-responder/owed-notices.js';
import { currentRunStateIn } from '../infra/temporal/run-state.js';
import type { AppendAudit } from '../agents/auditor/types.js';
import { canonicalJson } from '../agents/auditor/canonical-json.js';
import type { KeyManager } from '../agents/key-manager/key-manager.js';
import { issuerPolicy } from '../agents/planner/policy.js';
import { affectedIssuers, revocationApprovals } from '../agents/planner/revocation-approvals.js';
import { issuersWithLiveTokens } from '../agents/token-issuer/issued-tokens.js';
import { describeGaps, signOffGaps } from '../agents/planner/sign-off-reach.js';
import { requireRecordedRejection } from './recorded-sign-off.js';
import type { ApprovalPolicy, Policy, SigningAlgorithm } from '../agents/planner/policy-types.js';
import {
  buildRevocationNotice, confirmRevocation, containKeyCompromise, containToken, deliverToSubscriber, kidHorizonAtConfirmation, kidRevocationHorizon,
  liftContainment, listSubscribers, releaseIssuance, revokeCompromisedKey, signRevocationNotice, type RevocationNotice, type RevocationNoticeSigner, type SubscriberAddressPolicy,
} from '../agents/revocation-responder/index.js';
import type { Clock } from '../agents/shared/clock.js';
import type { ChannelKey } from '../agents/approvals/attestation.js';
import { checkStartRequest, requesterVerification, startSignatureRequired, type RequesterCheck } from '../agents/approvals/start-request.js';
import { isKeyturnError, KeyturnError } from '../config/errors.js';
import type { Queryable } from '../agents/shared/db.js';
import type { Pool } from '../db/pool.js';
import { actorFor, asActivity, auditSeqsOfThisActivity, consumeRunStart, forgetExpiredRevocations, forgetOldRunStarts, recordedStep, requestIdFor, useRunStart } from './context.js';

export interface RevocationRequest {
  kind: 'kid' | 'jti' | 'sub';
  value: string;
  /** Required for jti/sub; for a kid, the key's own issuer is used. */
  issuer?: string;
  /** sub only: revoke tokens issued before this instant (ISO). */
  before?: string;
  reason: string;
  requester: string;
  /** One-time nonce of the start request (see agents/shared/run-starts.ts). */
  startNonce?: string;
  /** The requester's signature over this start request (agents/approvals/start-request.ts), when they signed it. */
  startProof?: string;
}

export interface RevocationPlan {
  planHash: string;
  policyVersion: string;
  issuer: string;
  approvals: ApprovalPolicy;
  /** kid only: the key's state when planned. */
  keyState?: string;
  newKey: { alg: SigningAlgorithm; rsaModulusLength?: number };
  /** When every token the entry can match has expired. */
  expiresAt: string;
  auditSeqs: number[];
}

export interface RevocationActivityDeps {
  pool: Pool;
  appendAudit: AppendAudit;
  clock: Clock;
  keyManager: KeyManager;
  currentPolicy: () => Promise<Policy>;
  /** The key that signs webhook notices; only loaded when there is a subscriber to tell. */
  noticeSigner: () => Promise<RevocationNoticeSigner>;
  /** Where notices may be delivered (KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS). */
  subscriberAddresses: SubscriberAddressPolicy;
  /** Registered approval channel keys, by kid: they vouch for signed start requests. */
  channelKey: (kid: string) => Promise<ChannelKey | undefined>;
}

const base = (reason: string, policyVersion: string, role: 'RevocationResponder' | 'KeyManager' = 'RevocationResponder') => ({ actor: actorFor(role), reason, policyVersion });

/** RevocationResponder's activities: contain at once, then confirm or lift after sign-off, then tell downstream. */
export function createRevocationActivities(deps: RevocationActivityDeps) {
  const seqs = () => auditSeqsOfThisActivity(deps.pool);
  const rd = { appendAudit: deps.appendAudit, clock: deps.clock };
  type Planned = Omit<RevocationPlan, 'auditSeqs'>;
  /** The Planner's part: the requester's start request, the issuer and its policy, the deny-list horizon and the plan hash. */
  /** `requester` is undefined on a retry after the plan was recorded (see recordedStep): a refusal then would fail the run with its token contained and nobody asked to decide. */
  const planOf = async (input: RevocationRequest): Promise<{ planned: Planned; requester: RequesterCheck | undefined }> => {
    const policy = await deps.currentPolicy();
    let issuer = input.issuer;
    let keyState: string | undefined;
    if (input.kind === 'kid') {
      const key = await deps.keyManager.getKey(input.value).catch((e: unknown) => {
        if (isKeyturnError(e, 'KEY_NOT_FOUND')) return undefined;
        throw e;
      });
      if (key) {
        issuer = key.issuer;
        keyState = key.state;
      } else if (!issuer) {
        throw new KeyturnError('PLAN_UNKNOWN_ISSUER', `kid ${input.value} is not one of keyturn's keys`, 'Pass --issuer to deny-list a kid keyturn does not hold.');
      }
    }
    if (!issuer) throw new KeyturnError('PLAN_UNKNOWN_ISSUER', `a ${input.kind} revocation needs an issuer`, 'Pass --issuer.');
    const p = issuerPolicy(policy, issuer);
    const affected = input.kind === 'kid' ? [p] : affectedIssuers(policy, issuer, await issuersWithLiveTokens(deps.pool, input.kind, input.value));
    const now = deps.clock.now();
    // A jti or sub is denied until the last affected issuer's tokens of it can no longer be valid.
    const tokenHorizon = Math.max(...affected.map((a) => a.maxTokenAgeSeconds + a.clockSkewSeconds));
    const expiresAt = input.kind === 'kid' ? kidRevocationHorizon(p, now) : new Date(now.getTime() + tokenHorizon * 1000).toISOString();
    // Checked before anything is contained.
    const requester = (await recordedStep(deps.pool, 'plan', 'revocation.planned')) ? undefined : await checkStartRequest(
      { kind: 'revocation', workflowId: actorFor('Planner').workflowId ?? 'standalone', requester: input.requester, request: input },
      deps.channelKey,
      { required: startSignatureRequired(policy, input.kind === 'kid' && keyState !== undefined ? { kind: 'key-revocation', issuers: affected } : { kind: 'deny-list-revocation' }), now },
    );
    const alsoAffected = affected.map((a) => a.issuer).filter((i) => i !== issuer);
    const planHash = createHash('sha256').update(canonicalJson({ ...input, issuer, ...(alsoAffected.length ? { alsoAffected } : {}), keyState: keyState ?? null, policyVersion: policy.version, runId: actorFor('Planner').runId })).digest('hex');
    const planned: Planned = {
      planHash, policyVersion: policy.version, issuer, approvals: revocationApprovals(policy, affected), ...(keyState ? { keyState } : {}),
      newKey: { alg: p.algorithm, ...(p.algorithm === 'RS256' || p.algorithm === 'PS256' ? { rsaModulusLength: p.rsaModulusLength } : {}) },
      expiresAt,
    };
    return { planned, requester };
  };
  /** The plan's audit entry (the Planner → RevocationResponder handoff); idempotent across retries. */
  const recordPlan = (db: Queryable, input: RevocationRequest, { planned, requester }: { planned: Planned; requester: RequesterCheck | undefined }) => {
    // A joint sign-off no channel can carry: containment holds, fail closed, until its tokens expire; the record says why.
    const gaps = signOffGaps(planned.approvals);
    return deps.appendAudit(db, {
      actor: actorFor('Planner'),
      action: 'revocation.planned',
      subject: { [input.kind]: input.value, issuer: planned.issuer },
      policyVersion: planned.policyVersion,
      outcome: 'ok',
      details: {
        handoff: 'Planner → RevocationResponder', planHash: planned.planHash, reason: input.reason, requester: input.requester, keyState: planned.keyState ?? null,
        ...(requester ? requesterVerification(requester) : {}),
        approvals: planned.approvals,
        ...(gaps.length ? { signOffUnreachable: describeGaps(gaps) } : {}),
      },
      requestId: requestIdFor('plan'),
    });
  };
  return {
    async planRevocation(input: RevocationRequest): Promise<RevocationPlan> {
      return asActivity(async () => {
        await useRunStart(deps.pool, input.startNonce);
        await forgetExpiredRevocations(deps.pool, deps.clock.now());
        const plan = await planOf(input);
        await recordPlan(deps.pool, input, plan);
        return { ...plan.planned, auditSeqs: await seqs() };
      });
    },

    /**
     * A jti or sub revocation's first step, planned and contained in one activity: the token is
     * refused one workflow round trip sooner than with a separate containment activity. Both
     * handoffs are audited (revocation.planned by the Planner, then the containment) in the
     * containment's transaction; a refused containment leaves its refusal and the run's failure.
     */
    async planAndContainToken(input: RevocationRequest & { kind: 'jti' | 'sub' }): Promise<RevocationPlan> {
      return asActivity(async () => {
        // The start nonce, the plan record and the deny-list entry commit together: relying parties
        // are told after one commit instead of three.
        let plan: { planned: Planned; requester: RequesterCheck | undefined };
        const commitWith = {
          first: async (tx: Queryable) => {
            await consumeRunStart(tx, input.startNonce);
            // Recorded with the containment even when no subscriber is owed its notice: the run's later notices concern these issuers too, once the tokens have expired.
            await recordRunConcerns(tx, actorFor('RevocationResponder').workflowId!, { kind: input.kind, value: input.value, ...(input.before ? { before: input.before } : {}), issuer: plan.planned.issuer });
          },
          audit: async (tx: Queryable) => void (await recordPlan(tx, input, plan)),
        };
        try {
          plan = await planOf(input);
          const { planned } = plan;
          const { workflowId, runId } = actorFor('RevocationResponder');
          await containToken(deps.pool, { ...base(input.reason, planned.policyVersion), kind: input.kind, value: input.value, ...(input.before ? { before: input.before } : {}), expiresAt: planned.expiresAt, requestId: requestIdFor('contain'), heldBy: { workflowId: workflowId!, runId: runId! } }, { ...rd, commitWith });
        } catch (e) {
          // Refused planning or containment rolled the nonce back: it is used all the same, so a
          // copy of this start fails as replayed. A refusal of the start itself is the one reported.
          await consumeRunStart(deps.pool, input.startNonce).catch((c: unknown) => {
            if (isKeyturnError(c) && c.code.startsWith('START_')) throw c;
          });
          throw e;
        }
        await forgetOldRunStarts(deps.pool);
        await forgetExpiredRevocations(deps.pool, deps.clock.now());
        return { ...plan.planned, auditSeqs: await seqs() };
      });
    },

    async containKey(input: { issuer: string; kid: string; reason: string; policyVersion: string }) {
      return asActivity(async () => {
        const { workflowId, runId } = actorFor('RevocationResponder');
        // Held by this run: while it waits for sign-off, the worker keeps the temporary entry from lapsing.
        const c = await containKeyCompromise(deps.pool, { ...base(input.reason, input.policyVersion), issuer: input.issuer, kid: input.kid, heldBy: { workflowId: workflowId!, runId: runId! } }, rd);
        return { keyState: c.keyState, pausedIssuance: c.pausedIssuance, issuancePaused: c.issuancePaused, auditSeqs: await seqs() };
      });
    },

    async liftContainment(input: { kind: 'kid' | 'jti' | 'sub'; value: string; issuer: string; before?: string; reason: string; policyVersion: string }) {
      return asActivity(async () => {
        await requireRecordedRejection(deps.pool, ['revocation.planned']);
        const target = input.kind === 'kid' ? { kind: 'kid' as const, issuer: input.issuer, kid: input.value } : { kind: input.kind, value: input.value, ...(input.before ? { before: input.before } : {}) };
        const { workflowId, runId } = actorFor('RevocationResponder');
        // Another open revocation of the same key keeps the containment: its holders are asked of Temporal.
        const { client, info } = Context.current();
        // The run's own false alarm: an entry confirmed meanwhile by someone else (the token's owner, another run) stands.
        const r = await liftContainment(deps.pool, { ...base(input.reason, input.policyVersion), ...target, heldBy: { workflowId: workflowId!, runId: runId! }, requestId: requestIdFor('lift'), confirmedElsewhereStands: true }, { ...rd, holderState: currentRunStateIn(client.connection, info.namespace) });
        return {
          resumedIssuance: r.resumedIssuance,
          ...(r.keptFor?.length ? { keptFor: r.keptFor.map((h) => h.workflowId) } : {}),
          ...(r.confirmedRevocationId ? { confirmedRevocationId: r.confirmedRevocationId } : {}),
          auditSeqs: await seqs(),
        };
      });
    },

    async confirmTokenRevocation(input: { kind: 'jti' | 'sub'; value: string; before?: string; expiresAt: string; reason: string; policyVersion: string }) {
      return asActivity(async () => {
        await confirmRevocation(deps.pool, { ...base(input.reason, input.policyVersion), kind: input.kind, value: input.value, ...(input.before ? { before: input.before } : {}), expiresAt: input.expiresAt }, rd);
        return { auditSeqs: await seqs() };
      });
    },

    async denyCompromisedKey(input: { issuer: string; kid: string; kidExpiresAt: string; confirmedAt?: string; reason: string; policyVersion: string }) {
      return asActivity(async () => {
        const known = (await deps.currentPolicy()).issuers.find((i) => i.issuer === input.issuer);
        // The run's time of approval, the same on every attempt: a retry writes nothing new.
        const kidExpiresAt = kidHorizonAtConfirmation(input.kidExpiresAt, known, input.confirmedAt ?? deps.clock.now());
        const r = await revokeCompromisedKey(deps.pool, { ...base(input.reason, input.policyVersion), issuer: input.issuer, kid: input.kid, kidExpiresAt }, rd);
        return { deniedTokens: r.deniedCount, auditSeqs: await seqs() };
      });
    },

    async releaseIssuance(input: { issuer: string; compromisedKid: string; reason: string; policyVersion: string }) {
      return asActivity(async () => {
        const r = await releaseIssuance(deps.pool, { ...base(input.reason, input.policyVersion), issuer: input.issuer, compromisedKid: input.compromisedKid }, rd);
        return { activeKid: r.activeKid, resumed: r.resumed, auditSeqs: await seqs() };
      });
    },

    async listNoticeSubscribers(): Promise<string[]> {
      return (await listSubscribers(deps.pool)).map((s) => s.id);
    },

    /** One signed notice to one subscriber; a non-2xx answer fails the attempt and Temporal retries it, a refused address fails it for good. */
    async deliverNotice(input: { subscriberId: string; event: 'revocation.contained' | 'revocation.confirmed' | 'revocation.lifted'; kind: 'kid' | 'jti' | 'sub'; value: string; before?: string; issuer: string; noticeId: string; revokedAt: string }) {
      // A missing or broken notice key, an invalid notice or a refused address fails at once, not after every retry.
      return asActivity(async () => {
        // Signed for this subscriber only (aud): it cannot replay the notice to another.
        const seq = await noticeSeq(deps.pool, workflowOfNotice(input.noticeId), input.event);
        const notice = buildRevocationNotice({ event: input.event, kind: input.kind, value: input.value, ...(input.before ? { before: input.before } : {}), issuer: input.issuer, revokedAt: input.revokedAt, seq, aud: input.subscriberId, jti: input.noticeId });
        const sign = async (owed: RevocationNotice) => signRevocationNotice(owed, await deps.noticeSigner().catch(keyUnavailable));
        const concerns = input.kind === 'kid' ? undefined : await noticeConcerns(deps.pool, { kind: input.kind, value: input.value, ...(input.before ? { before: input.before } : {}), noticeId: input.noticeId });
        return { outcome: await deliverToSubscriber(deps.pool, input.subscriberId, { notice, sign, ...(concerns ? { concerns } : {}) }, { addresses: deps.subscriberAddresses }) };
      });
    },
  };
}

export type RevocationActivities = ReturnType<typeof createRevocationActivities>;

/** A notice key file that cannot be read fails the delivery at once, as a missing key does: the notice stays owed and the worker resends it once the key is back. */
function keyUnavailable(e: unknown): never {
  if (isKeyturnError(e) && e.code.startsWith('SECRET_FILE_')) throw ApplicationFailure.create({ message: e.message, type: e.code, nonRetryable: true });
  throw e;
}
