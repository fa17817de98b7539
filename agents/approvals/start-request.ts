import { createHash } from 'node:crypto';
import type { JWK } from 'jose';
import { canonicalJson } from '../auditor/canonical-json.js';
import type { ApprovalChannel, IssuerPolicy, Policy } from '../planner/policy-types.js';
import { START_VALIDITY_DAYS } from '../shared/run-starts.js';
import { KeyturnError } from '../../config/errors.js';
import { PAST_SKEW_SECONDS, type ChannelKey } from './attestation.js';
import { signChannelJws, verifyChannelJws } from './channel-jws.js';

export type StartKind = 'rotation' | 'revocation' | 'policy-change';

/**
 * What a requester signs when starting a run, through their approval channel's key: who asks, for
 * which run and which exact request. The sign-off gate refuses the requester's own approval, so a
 * requester named by the starter alone could be anyone; one that signed cannot be.
 */
export interface StartRequestClaims {
  channel: ApprovalChannel;
  /** The requester as the sign-off gate compares it: `cli:<name>`, or a Slack user id. */
  requester: string;
  kind: StartKind;
  workflowId: string;
  /** The start request's one-time nonce: a signed start is used once, like its nonce. */
  startNonce: string;
  /** sha256 (hex) of the canonical request, without its nonce and this signature. */
  requestDigest: string;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
}

export const START_REQUEST_TYP = 'keyturn-start+jws';
/** A signed start lives as long as its nonce. */
const START_REQUEST_TTL_SECONDS = START_VALIDITY_DAYS * 86_400;
/** As for the start nonce: a starter's clock may run ahead of the worker's by this much. */
const FUTURE_SKEW_SECONDS = 600;
const SLACK_USER = /^[UW][A-Z0-9]{2,}$/;
const HEX_DIGEST = /^[0-9a-f]{64}$/;

/** The digest a start request's signature covers: the request as the workflow receives it, minus its nonce and signature. */
export function startRequestDigest(request: object): string {
  const { startNonce: _nonce, startProof: _proof, ...rest } = request as Record<string, unknown>;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

export async function signStartRequest(claims: Omit<StartRequestClaims, 'iat' | 'exp'>, key: { kid: string; privateJwk: JWK }, now: Date = new Date()): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return signChannelJws({ ...claims, iat, exp: iat + START_REQUEST_TTL_SECONDS }, START_REQUEST_TYP, key);
}

export interface StartRequest {
  kind: StartKind;
  workflowId: string;
  /** The requester the run will compare approvers against. */
  requester: string;
  /** Rotations only: schedules start runs for nobody in particular and sign nothing. */
  requesterKind?: 'cli' | 'slack' | 'schedule';
  /** The workflow's input, with its startNonce and startProof (and, for a rotation, its issuer). */
  request: { startNonce?: string; startProof?: string; issuer?: string };
  /** For a rotation named for its issuer's schedule: whether that schedule really started it. */
  startedBySchedule?: () => Promise<boolean>;
  /** For a rotation named for its issuer's schedule: whether a rotation is due (see rotationDue). */
  rotationDue?: boolean;
}

/** How a run's requester was established, for its plan's audit entry. */
export type RequesterCheck =
  | { verified: true; channel: ApprovalChannel; kid: string }
  | { verified: false; because: 'unsigned' | 'schedule' };

/**
 * Checks a run's start request. A signed one must be signed by the requester's own channel key
 * (a CLI approver's key, or the Slack app's for a Slack user) for this very run, nonce and request,
 * or it is refused with START_SIGNATURE_INVALID. An unsigned one is refused with START_UNSIGNED when
 * `required`, else taken with its requester marked unverified. A rotation named for its issuer's
 * schedule is taken unsigned: it names no person, so nobody is barred from approving it; when
 * signatures are required, only if that schedule started it (whoever can trigger the schedule can
 * still start one; see the README).
 */
export async function checkStartRequest(
  start: StartRequest,
  lookupKey: (kid: string) => Promise<ChannelKey | undefined>,
  o: { required: boolean; now: Date },
): Promise<RequesterCheck> {
  const proof = start.request.startProof;
  if (proof === undefined) {
    if (isScheduleRotation(start)) {
      // Whoever may write to the Temporal namespace may also change or trigger the schedule: the
      // database's record of the issuer's keys is what keeps them to rotations that are due anyway.
      if (o.required && start.rotationDue !== true) {
        throw new KeyturnError('START_UNSIGNED', `run ${start.workflowId} names ${start.requester} as requester but no rotation is due (the active key has served less than half its rotation period), and the policy requires signed starts`, 'Nothing to do: the schedule starts the next one when it is due. To rotate now, start the rotation with your approver key. Nothing was changed.');
      }
      if (o.required && !(await start.startedBySchedule?.())) {
        throw new KeyturnError('START_UNSIGNED', `run ${start.workflowId} names ${start.requester} as requester but that schedule did not start it, and the policy requires signed starts`, 'Trigger the schedule (`keyturn schedule trigger <issuer>`) or start the rotation with your approver key. Nothing was changed.');
      }
      return { verified: false, because: 'schedule' };
    }
    if (o.required) {
      throw new KeyturnError('START_UNSIGNED', `run ${start.workflowId} names ${start.requester} as requester without a signature, and the policy requires signed starts`, 'Start it again with your approver key (`--key <file>` or KEYTURN_APPROVER_KEY), or from Slack. Nothing was changed.');
    }
    return { verified: false, because: 'unsigned' };
  }
  const invalid = (why: string) => new KeyturnError('START_SIGNATURE_INVALID', `the start request of run ${start.workflowId} is refused: ${why}`, 'Start the run again through keyturn with your own approver key; if nobody here started this one, someone with Temporal access forged or copied it. Nothing was changed.', { why });
  const { key, payload } = await verifyChannelJws(proof, START_REQUEST_TYP, lookupKey, invalid);
  if (!isStartClaims(payload)) throw invalid('malformed-claims');
  const c = payload;
  if (c.channel !== key.channel) throw invalid('channel-mismatch');
  // A CLI key speaks for its one approver; the Slack app's key for the Slack users it authenticated.
  const keyMaySpeakFor = key.approver !== undefined ? c.requester === key.approver : key.channel === 'slack' && SLACK_USER.test(c.requester);
  if (!keyMaySpeakFor) throw invalid('requester-not-key-owner');
  if (c.requester !== start.requester) throw invalid('other-requester');
  if (start.requesterKind !== undefined && start.requesterKind !== key.channel) throw invalid('other-requester');
  if (c.kind !== start.kind || c.workflowId !== start.workflowId) throw invalid('other-run');
  if (c.startNonce !== start.request.startNonce) throw invalid('other-start');
  if (c.requestDigest !== startRequestDigest(start.request)) throw invalid('request-changed');
  const now = Math.floor(o.now.getTime() / 1000);
  if (c.exp - c.iat > START_REQUEST_TTL_SECONDS || c.iat > now + FUTURE_SKEW_SECONDS) throw invalid('lifetime');
  if (c.exp < now - PAST_SKEW_SECONDS) throw invalid('expired');
  return { verified: true, channel: key.channel, kid: key.kid };
}

/**
 * Whether an issuer's rotation is due, for the unsigned rotations of its schedule: it has no active
 * key, or its active key has served at least half its rotation period (a schedule fires every
 * period, so a key rotated since by hand makes the next firing too early, not the one after).
 */
export function rotationDue(activeKey: { activatedAt?: string } | undefined, rotationPeriodSeconds: number, now: Date): boolean {
  if (!activeKey) return true;
  const since = activeKey.activatedAt === undefined ? Number.NaN : Date.parse(activeKey.activatedAt);
  return Number.isFinite(since) && now.getTime() - since >= (rotationPeriodSeconds * 1000) / 2;
}

/** A rotation named for its issuer's schedule, as scheduledRotationWorkflow names it. */
function isScheduleRotation(start: StartRequest): boolean {
  return start.kind === 'rotation' && start.requesterKind === 'schedule' && typeof start.request.issuer === 'string' && start.requester === `schedule:${start.request.issuer}`;
}

function isStartClaims(v: unknown): v is StartRequestClaims {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const c = v as Record<string, unknown>;
  const text = (x: unknown, max: number) => typeof x === 'string' && x.length > 0 && x.length <= max;
  return (
    (c.channel === 'cli' || c.channel === 'slack') && text(c.requester, 200) &&
    (c.kind === 'rotation' || c.kind === 'revocation' || c.kind === 'policy-change') &&
    text(c.workflowId, 1000) && text(c.startNonce, 100) && typeof c.requestDigest === 'string' && HEX_DIGEST.test(c.requestDigest) &&
    Number.isSafeInteger(c.iat) && Number.isSafeInteger(c.exp)
  );
}

/**
 * Whether a run must be started signed, by the policy in force: a rotation, or the revocation of a
 * key keyturn holds, when its issuer says so; a policy change, or any other revocation (a jti, a sub,
 * a kid keyturn does not hold: its deny-list entry refuses matching tokens whatever their issuer,
 * later ones too), when any issuer does.
 */
export function startSignatureRequired(policy: Policy, run: { kind: 'rotation' | 'key-revocation'; issuers: readonly IssuerPolicy[] } | { kind: 'deny-list-revocation' | 'policy-change' }): boolean {
  const bound = run.kind === 'rotation' || run.kind === 'key-revocation' ? run.issuers : policy.issuers;
  return bound.some((p) => p.approvals.requireSignedStart === true);
}

/** The audit detail for a requester check: where the requester's name came from. */
export function requesterVerification(check: RequesterCheck): Record<string, string | boolean> {
  return check.verified ? { requesterVerified: true, requesterKey: check.kid, requesterChannel: check.channel } : { requesterVerified: false, requesterUnverifiedBecause: check.because };
}

/** Signs start requests for one requester; starters (CLI, Slack app) hold one when they can vouch for the requester. */
export type StartSigner = (claims: Omit<StartRequestClaims, 'iat' | 'exp' | 'channel'>) => Promise<string>;

export function startSigner(channel: ApprovalChannel, key: { kid: string; privateJwk: JWK }): StartSigner {
  return (claims) => signStartRequest({ channel, ...claims }, key);
}

/** The workflow arguments of a start request, signed when a signer is given. */
export async function signedStart<T extends { startNonce: string }>(args: T, o: { kind: StartKind; workflowId: string; requester: string; signer?: StartSigner | undefined }): Promise<T & { startProof?: string }> {
  if (!o.signer) return args;
  const startProof = await o.signer({ kind: o.kind, requester: o.requester, workflowId: o.workflowId, startNonce: args.startNonce, requestDigest: startRequestDigest(args) });
  return { ...args, startProof };
}
