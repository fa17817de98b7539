import { randomUUID } from 'node:crypto';
import type { JWK } from 'jose';
import { KeyturnError } from '../../config/errors.js';
import type { ApprovalChannel } from '../planner/policy-types.js';
import { signChannelJws, verifyChannelJws } from './channel-jws.js';
import { SLACK_USER_GROUP } from './quorum.js';

export type Decision = 'approve' | 'reject' | 'rollback';

/**
 * What an approver signs, through their channel's own key: the decision is bound to one workflow
 * run and one plan, so it cannot be replayed onto another run or a changed plan.
 */
export interface AttestationClaims {
  channel: ApprovalChannel;
  approver: string;
  decision: Decision;
  workflowId: string;
  runId: string;
  planHash: string;
  reason?: string;
  /** Set by the Slack app when the approver is allowed through membership of this user group. */
  viaGroup?: string;
  /** Every user group the Slack app found the approver in, when more than one. */
  viaGroups?: string[];
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
  jti: string;
}

export interface ChannelKey {
  kid: string;
  channel: ApprovalChannel;
  /** For CLI keys: the only approver the key may sign for. Undefined for the Slack app's key. */
  approver?: string;
  publicJwk: JWK;
}

export const ATTESTATION_TYP = 'keyturn-attestation+jws';
export const ATTESTATION_TTL_SECONDS = 300;
/** More user groups than any policy lists for one person; a longer claim is malformed (the Slack app names no more). */
export const MAX_GROUP_CLAIMS = 32;
/** Longer than Slack's reject modal allows (1000); a CLI reason beyond it is refused before signing. */
export const MAX_REASON_CHARS = 2000;
/** How far an attestation's iat may lie ahead of the verifier's clock. */
export const FUTURE_SKEW_SECONDS = 60;
/** How far past its exp an attestation is still taken. */
export const PAST_SKEW_SECONDS = 5;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Control characters: none in an id, only tab and line breaks in a reason (PostgreSQL refuses NUL in text and jsonb). */
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex -- as above, tab, LF and CR allowed
const CONTROL_IN_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export async function signAttestation(
  claims: Omit<AttestationClaims, 'iat' | 'exp' | 'jti'>,
  key: { kid: string; privateJwk: JWK },
  now: Date = new Date(),
): Promise<string> {
  if (claims.reason !== undefined && (typeof claims.reason !== 'string' || claims.reason.length > MAX_REASON_CHARS)) {
    throw new KeyturnError('REASON_TOO_LONG', `the reason is longer than ${MAX_REASON_CHARS} characters`, 'Shorten the reason; link to a ticket for the details.');
  }
  const iat = Math.floor(now.getTime() / 1000);
  const body: AttestationClaims = { ...claims, iat, exp: iat + ATTESTATION_TTL_SECONDS, jti: randomUUID() };
  return signChannelJws(body, ATTESTATION_TYP, key);
}

export interface AttestationExpectation {
  workflowId: string;
  runId: string;
  planHash: string;
  allowedChannels: ApprovalChannel[];
  now: Date;
}

/** Verifies signature, binding and freshness; throws `ATTESTATION_INVALID` with the reason otherwise. */
export async function verifyAttestation(
  jws: string,
  lookupKey: (kid: string) => Promise<ChannelKey | undefined>,
  expect: AttestationExpectation,
): Promise<AttestationClaims> {
  const invalid = (why: string) => new KeyturnError('ATTESTATION_INVALID', `approval attestation refused: ${why}`, 'Approve again from Slack or with `keyturn approve` using your registered approver key.', { why });
  const { key, payload: parsed } = await verifyChannelJws(jws, ATTESTATION_TYP, lookupKey, invalid);
  // A key holder signs whatever they like: every member is checked for its type before it is used.
  if (!isClaimsShaped(parsed)) throw invalid('malformed-claims');
  const claims = parsed;
  const now = Math.floor(expect.now.getTime() / 1000);
  if (claims.channel !== key.channel) throw invalid('channel-mismatch');
  if (!expect.allowedChannels.includes(claims.channel)) throw invalid('channel-not-allowed-by-policy');
  if (key.approver !== undefined && claims.approver !== key.approver) throw invalid('approver-not-key-owner');
  // Group membership is vouched for only by the Slack app, which looked it up: an approver's own key could claim any group.
  const claimsGroups = claims.viaGroup !== undefined || claims.viaGroups !== undefined;
  if (claimsGroups && (claims.channel !== 'slack' || key.approver !== undefined)) throw invalid('group-claim-not-from-slack');
  const groupId = (g: unknown) => typeof g === 'string' && SLACK_USER_GROUP.test(g);
  if (claims.viaGroup !== undefined && !groupId(claims.viaGroup)) throw invalid('bad-group-claim');
  if (claims.viaGroups !== undefined && !(Array.isArray(claims.viaGroups) && claims.viaGroups.length <= MAX_GROUP_CLAIMS && claims.viaGroups.every(groupId))) throw invalid('bad-group-claim');
  if (claims.workflowId !== expect.workflowId || claims.runId !== expect.runId) throw invalid('other-run');
  if (claims.planHash !== expect.planHash) throw invalid('plan-hash-mismatch');
  if (!['approve', 'reject', 'rollback'].includes(claims.decision)) throw invalid('bad-decision');
  // Signed for ATTESTATION_TTL_SECONDS at most, and recently: no approval pre-signed for later use.
  if (claims.exp - claims.iat > ATTESTATION_TTL_SECONDS || claims.iat > now + FUTURE_SKEW_SECONDS) throw invalid('lifetime');
  if (claims.exp < now - PAST_SKEW_SECONDS) throw invalid('expired');
  return claims;
}

function isClaimsShaped(v: unknown): v is AttestationClaims {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const c = v as Record<string, unknown>;
  const text = (x: unknown, max: number) => typeof x === 'string' && x.length > 0 && x.length <= max && !CONTROL.test(x);
  return (
    text(c.channel, 16) && text(c.approver, 200) && text(c.decision, 16) &&
    text(c.workflowId, 1000) && text(c.runId, 200) && text(c.planHash, 128) &&
    (c.reason === undefined || (typeof c.reason === 'string' && c.reason.length <= MAX_REASON_CHARS && !CONTROL_IN_TEXT.test(c.reason))) &&
    Number.isSafeInteger(c.iat) && Number.isSafeInteger(c.exp) &&
    typeof c.jti === 'string' && UUID.test(c.jti)
  );
}

/** How long after its signal arrived a decision may still be judged as of then (a check held back by an outage). */
export const LATE_JUDGING_LIMIT_SECONDS = 3600;

/**
 * The time an attestation's expiry is judged at: when its signal was taken in by the run (the start
 * of the workflow task that processed it, never before it arrived), if that is known, not later than
 * `now` and at most LATE_JUDGING_LIMIT_SECONDS ago; else `now`.
 */
export function expiryJudgedAt(receivedAt: string | undefined, now: Date): Date {
  const t = receivedAt === undefined ? Number.NaN : Date.parse(receivedAt);
  const recent = Number.isFinite(t) && t < now.getTime() && now.getTime() - t <= LATE_JUDGING_LIMIT_SECONDS * 1000;
  return recent ? new Date(t) : now;
}

/** True when the attestation had expired at `at` (with the same past skew as verifyAttestation). */
export function expiredAt(claims: Pick<AttestationClaims, 'exp'>, at: Date): boolean {
  return claims.exp < Math.floor(at.getTime() / 1000) - PAST_SKEW_SECONDS;
}
