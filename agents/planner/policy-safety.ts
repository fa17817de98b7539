import { KeyturnError } from '../../config/errors.js';
import { formatDuration as d } from './duration.js';
import { policyChangeApprovals } from './policy-change-approvals.js';
import type { Policy, SigningAlgorithm } from './policy-types.js';
import { describeGaps, signOffGaps } from './sign-off-reach.js';

/**
 * Refusals of a policy change that is valid on its own (parsePolicy accepted it) but unsafe given
 * what is happening now. Only issuers with a rotation in flight are checked; each rule:
 *
 * - `issuer-removed-in-flight`: `next` drops an issuer whose rotation is in flight.
 * - `algorithm-changed-in-flight`: `next` gives such an issuer an algorithm other than the one the
 *   running rotation is rolling out (its `algorithm`, else the issuer's in `current`).
 * - `ttl-longer-in-flight`: `next` lengthens such an issuer's access token lifetime: the run retires
 *   the old key after the overlap it was planned with, before the longer-lived tokens expire.
 * - `overlap-shorter-than-live-tokens`: `next` shortens such an issuer's postRetireOverlap so that
 *   an old key retired from `now` would leave the JWKS before every token already issued for the
 *   issuer has expired: now + next overlap < latest exp + clock skew (the larger of the two
 *   policies'). Tokens issued after the change are covered by parsePolicy's own overlap rule.
 *
 * And, whatever is in flight:
 * - `sign-off-unreachable`: the change could never be signed off, because a group of its approvers
 *   is reachable only through a channel some other deciding issuer does not allow (see
 *   ./sign-off-reach.ts). Refused at once instead of waiting for the approval deadline.
 *
 * Pure; at most one refusal per code and issuer, in `inFlight` order.
 */

export type SafetyCode = 'issuer-removed-in-flight' | 'algorithm-changed-in-flight' | 'overlap-shorter-than-live-tokens' | 'ttl-longer-in-flight' | 'sign-off-unreachable';

export interface ChangeRefusal {
  /** Stable machine-readable code (the rule's name above). */
  code: SafetyCode;
  issuer: string;
  /** One line for people, naming the issuer, the values and what to do. */
  message: string;
}

export interface InFlightRotation {
  issuer: string;
  /** Where the run is (e.g. awaiting-approval, published, active, overlap); used in messages. */
  phase: string;
  workflowId?: string;
  /** The algorithm of the key being rolled out (the plan's newKey.alg). Default: the issuer's in `current`. */
  algorithm?: SigningAlgorithm;
  /** The key being replaced. */
  previousKid?: string;
}

export interface LiveTokens {
  issuer: string;
  /** The latest `exp` of any unexpired token issued for the issuer (see liveTokenHorizons in ./policy-store.ts). */
  maxExp: Date;
}

export interface SafetyCheckInput {
  /** The policy in force. */
  current: Policy;
  /** The proposed policy. */
  next: Policy;
  inFlight: readonly InFlightRotation[];
  issuedTokens: readonly LiveTokens[];
  now: Date;
}

export function refuseUnsafeChange(input: SafetyCheckInput): ChangeRefusal[] {
  const { current, next, now } = input;
  const refusals: ChangeRefusal[] = [];
  const add = (r: ChangeRefusal) => {
    if (!refusals.some((x) => x.code === r.code && x.issuer === r.issuer)) refusals.push(r);
  };
  for (const run of input.inFlight) {
    const who = `${run.issuer} (rotation${run.workflowId ? ` ${run.workflowId}` : ''} in flight, phase ${run.phase})`;
    const o = current.issuers.find((p) => p.issuer === run.issuer);
    const n = next.issuers.find((p) => p.issuer === run.issuer);
    if (!n) {
      add({ code: 'issuer-removed-in-flight', issuer: run.issuer, message: `${who}: the issuer cannot be removed while its rotation runs; wait for it to finish or cancel it` });
      continue;
    }
    const rolling = run.algorithm ?? o?.algorithm;
    if (rolling !== undefined && n.algorithm !== rolling) {
      add({ code: 'algorithm-changed-in-flight', issuer: run.issuer, message: `${who}: algorithm ${rolling} → ${n.algorithm} refused mid-rotation; change it after the rotation finishes` });
    }
    if (o && n.accessTokenTtlSeconds > o.accessTokenTtlSeconds) {
      // The run retires the old key after the overlap it was planned with: tokens the old key signs
      // with the longer lifetime until activation would outlive it.
      add({ code: 'ttl-longer-in-flight', issuer: run.issuer, message: `${who}: access token lifetime ${d(o.accessTokenTtlSeconds)} → ${d(n.accessTokenTtlSeconds)} refused mid-rotation: the old key is retired after the overlap the run was planned with, before tokens with the longer lifetime expire; change it after the rotation finishes` });
    }
    if (!o || n.postRetireOverlapSeconds >= o.postRetireOverlapSeconds) continue;
    const live = input.issuedTokens.filter((t) => t.issuer === run.issuer).map((t) => t.maxExp.getTime());
    if (live.length === 0) continue;
    const skewMs = Math.max(o.clockSkewSeconds, n.clockSkewSeconds) * 1000;
    const neededUntil = Math.max(...live) + skewMs;
    const retiredAt = now.getTime() + n.postRetireOverlapSeconds * 1000;
    if (retiredAt < neededUntil) {
      add({
        code: 'overlap-shorter-than-live-tokens',
        issuer: run.issuer,
        message:
          `${who}: post-retire overlap ${d(o.postRetireOverlapSeconds)} → ${d(n.postRetireOverlapSeconds)} could retire the old key at ${iso(retiredAt)}, ` +
          `but tokens already issued are accepted until ${iso(neededUntil)} (latest exp + ${d(skewMs / 1000)} skew); ` +
          `propose it after ${iso(neededUntil - n.postRetireOverlapSeconds * 1000)} or keep the overlap`,
      });
    }
  }
  const gaps = signOffGaps(policyChangeApprovals(current, next));
  if (gaps.length) {
    add({
      code: 'sign-off-unreachable',
      issuer: gaps[0]!.label,
      message: `this change could never be signed off: ${describeGaps(gaps)}, because votes count only through the channels every deciding issuer allows; first give the issuers an approval channel in common, changing one issuer at a time (a change to one issuer is signed off by that issuer alone)`,
    });
  }
  return refusals;
}

/** Throws POLICY_CHANGE_UNSAFE listing every refusal (details.refusals carries them), or returns. */
export function assertSafeChange(input: SafetyCheckInput): void {
  const refusals = refuseUnsafeChange(input);
  if (refusals.length === 0) return;
  throw new KeyturnError(
    'POLICY_CHANGE_UNSAFE',
    `the policy change is unsafe now: ${refusals.map((r) => `${r.message} (${r.code})`).join('; ')}`,
    'Wait for the rotations in flight to finish (or cancel them), or change the proposal.',
    { refusals },
  );
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
