import { isKeyturnError, KeyturnError } from '../../config/errors.js';
import type { AppendAudit } from '../auditor/types.js';
import type { KeyState } from '../key-manager/types.js';
import type { SigningAlgorithm } from '../planner/policy-types.js';
import { withTransaction, type Queryable } from '../shared/db.js';
import { getPause, pauseIssuance, resumeIssuance, type IssuancePause } from '../token-issuer/issuance-control.js';
import { liftRevocation, makePermanent, revoke } from '../validator/revocation-list.js';
import {
  clip,
  liveEntry,
  lockTarget,
  optionalDate,
  requireBase,
  requireText,
  resolveDeps,
  subjectOf,
  toDate,
  type Instant,
  type ResponderDeps,
  type ResponderOpBase,
} from './common.js';
import type { RunState } from '../shared/activity-calls.js';
import { DEFAULT_CONTAINMENT_HOLD_SECONDS, otherHolderStates, recordHold, releaseHolds, type ContainmentHolder, type HolderState, type Holding } from './containment-holds.js';

/** A run joining a containment another run already holds: audited, as its hold decides whether a false alarm lifts it. */
async function auditJoined(tx: Queryable, appendAudit: AppendAudit, req: ResponderOpBase & { heldBy?: ContainmentHolder }, subject: Record<string, string>, revocationId: string): Promise<void> {
  await appendAudit(tx, {
    actor: req.actor,
    action: 'revocation.contained',
    subject,
    policyVersion: req.policyVersion,
    outcome: 'ok',
    details: { reason: req.reason, revocationId, joined: true, heldBy: req.heldBy?.workflowId ?? null, note: 'already contained by another run: this run holds it too' },
  });
}

/** The pause reason a key containment writes; a false alarm resumes only a pause that starts with it. */
export function containmentPauseReason(kid: string, reason: string): string {
  return clip(`${containmentPausePrefix(kid)} ${reason}`);
}

function containmentPausePrefix(kid: string): string {
  return `key compromise containment of kid ${kid}:`;
}

/** True when `pause` was written by a containment of `kid`. */
export function isContainmentPause(pause: Pick<IssuancePause, 'reason'> | undefined, kid: string): boolean {
  return pause !== undefined && pause.reason.startsWith(containmentPausePrefix(kid));
}

// ---------------------------------------------------------------------------------------------
// Key compromise

export interface ContainKeyRequest extends ResponderOpBase {
  issuer: string;
  kid: string;
  /** The run the containment belongs to; without one, the temporary entry lapses after its hold whatever happens. */
  heldBy?: ContainmentHolder;
  /** When the temporary kid entry lapses if nobody confirms or lifts it. Default: now + DEFAULT_CONTAINMENT_HOLD_SECONDS. */
  expiresAt?: Instant;
}

export interface KeyContainment {
  issuer: string;
  kid: string;
  /** The key's state when contained; `unknown` when keyturn holds no key with this kid. */
  keyState: KeyState | 'unknown';
  /** A containment of this kid paused issuance (and a false alarm will resume it). */
  pausedIssuance: boolean;
  /** Issuance for the issuer is paused now, by this containment or by an earlier pause. */
  issuancePaused: boolean;
  /** The kid deny-list entry (temporary, or permanent when the kid was already revoked for good). */
  revocationId: string;
  temporary: boolean;
  expiresAt: string;
  /** False when the containment was already in place: nothing was written or audited. */
  changed: boolean;
}

interface KeyRowLite {
  issuer: string;
  state: KeyState;
}

/**
 * Reads the key's issuer and state, holding a share lock until the transaction ends: KeyManager's
 * transitions lock the row FOR UPDATE, so the key cannot become active behind the containment's back.
 */
async function lockKey(tx: Queryable, kid: string): Promise<KeyRowLite | undefined> {
  const res = await tx.query<{ issuer: string; state: KeyState }>(`SELECT issuer, state FROM signing_keys WHERE kid = $1 FOR SHARE`, [kid]);
  return res.rows[0];
}

function assertIssuer(kid: string, key: KeyRowLite | undefined, issuer: string): void {
  if (key && key.issuer !== issuer) {
    throw new KeyturnError('REVOCATION_INVALID', `key ${kid} does not belong to issuer ${issuer}`, 'Name the issuer that owns the key (see `keyturn keys list`).', { kid, issuer });
  }
}

/**
 * Contains a suspected key compromise before anyone signs off: a TEMPORARY kid deny-list entry
 * (validators reject every token under the kid at once) and, when the kid is the issuer's active
 * key, a pause of all issuance for the issuer, so no new token is signed with it. Fails closed: the
 * key row is share-locked while the pause is decided, and pause, deny-list entry and the
 * `revocation.contained` audit entry commit in one transaction or not at all (an error leaves
 * nothing behind and is safe to retry). Idempotent: when the kid is already deny-listed and, for an
 * active key, issuance is already paused, nothing is written and `changed` is false.
 */
export async function containKeyCompromise(db: Queryable, req: ContainKeyRequest, deps: ResponderDeps = {}): Promise<KeyContainment> {
  requireBase(req);
  const issuer = requireText(req.issuer, 'issuer');
  const kid = requireText(req.kid, 'kid', 1024);
  const { appendAudit, clock } = resolveDeps(deps);
  const now = clock.now();
  const expiresAt = optionalDate(req.expiresAt, 'expiresAt') ?? new Date(now.getTime() + DEFAULT_CONTAINMENT_HOLD_SECONDS * 1000);
  if (expiresAt.getTime() <= now.getTime()) throw new KeyturnError('REVOCATION_INVALID', 'expiresAt of a containment must be in the future');

  return refusalAudited(db, appendAudit, req, 'revocation.contained', subjectOf('kid', kid, issuer), () =>
    withTransaction(db, async (tx) => {
      await lockTarget(tx, 'kid', kid);
      const key = await lockKey(tx, kid);
      assertIssuer(kid, key, issuer);
      const keyState = key?.state ?? 'unknown';
      const active = keyState === 'active';
      const existing = await liveEntry(tx, 'kid', kid, undefined, now);
      let pause = await getPause(tx, issuer);

      if (existing && (!active || pause)) {
        if (existing.temporary && (await recordHold(tx, existing.id, req.heldBy))) await auditJoined(tx, appendAudit, req, subjectOf('kid', kid, issuer), existing.id);
        return {
          issuer,
          kid,
          keyState,
          pausedIssuance: isContainmentPause(pause, kid),
          issuancePaused: pause !== undefined,
          revocationId: existing.id,
          temporary: existing.temporary,
          expiresAt: existing.expiresAt.toISOString(),
          changed: false,
        };
      }

      let pausedNow = false;
      if (active && !pause) {
        pause = await pauseIssuance(tx, issuer, containmentPauseReason(kid, req.reason), req.actor, { appendAudit, policyVersion: req.policyVersion });
        pausedNow = true;
      }
      // An existing entry (temporary or permanent) is kept as it is: containing twice never extends or downgrades it.
      const entry = existing ?? (await revoke(tx, { kind: 'kid', value: kid, expiresAt, temporary: true, reason: req.reason }));
      if (entry.temporary) await recordHold(tx, entry.id, req.heldBy);
      const entryExpiry = existing ? existing.expiresAt : expiresAt;
      const result: KeyContainment = {
        issuer,
        kid,
        keyState,
        pausedIssuance: isContainmentPause(pause, kid),
        issuancePaused: pause !== undefined,
        revocationId: entry.id,
        temporary: entry.temporary,
        expiresAt: entryExpiry.toISOString(),
        changed: true,
      };
      await appendAudit(tx, {
        actor: req.actor,
        action: 'revocation.contained',
        subject: subjectOf('kid', kid, issuer),
        policyVersion: req.policyVersion,
        outcome: 'ok',
        details: { reason: req.reason, keyState, pausedIssuanceNow: pausedNow, issuancePaused: result.issuancePaused, revocationId: entry.id, temporary: entry.temporary, expiresAt: result.expiresAt },
      });
      return result;
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Single tokens and subjects

export interface TokenTarget {
  kind: 'jti' | 'sub';
  /** The token's jti, or the subject (client id). */
  value: string;
  /** kind `sub` only: only the subject's tokens issued before this instant (default: all of them). */
  before?: Instant;
}

/** Work committed in a containment's transaction: see containToken. */
export interface CommitWith {
  first?: (tx: Queryable) => Promise<void>;
  audit?: (tx: Queryable) => Promise<void>;
}

export interface ContainTokenRequest extends ResponderOpBase, TokenTarget {
  /** When every token the entry can match has expired (a jti: the token's own exp). */
  expiresAt: Instant;
  /** The run the containment belongs to: another run's false alarm then leaves it in place. */
  heldBy?: ContainmentHolder;
  /** The same for every attempt of one request: a retry after a lost reply adds no second audit entry. */
  requestId?: string;
}

export interface TokenContainment {
  kind: 'jti' | 'sub';
  value: string;
  before?: string;
  /** Null when every token the entry could match has already expired: there is nothing to deny. */
  revocationId: string | null;
  temporary: boolean;
  expiresAt: string;
  changed: boolean;
}

function checkTokenTarget(t: TokenTarget): { kind: 'jti' | 'sub'; value: string; before: Date | undefined } {
  if (t.kind !== 'jti' && t.kind !== 'sub') {
    throw new KeyturnError('REVOCATION_INVALID', `kind must be jti or sub, not ${String(t.kind)}`, 'A key compromise is contained with containKeyCompromise and confirmed with revokeCompromisedKey.');
  }
  const before = optionalDate(t.before, 'before');
  if (before !== undefined && t.kind !== 'sub') throw new KeyturnError('REVOCATION_INVALID', '`before` applies to sub revocations only');
  return { kind: t.kind, value: requireText(t.value, t.kind, 1024), before };
}

function targetSubject(kind: 'jti' | 'sub', value: string): Record<string, string> {
  return subjectOf(kind, value);
}

/**
 * Suspends one token (jti) or a subject's tokens (sub, optionally only those issued before
 * `before`) with a TEMPORARY deny-list entry until approval, audited as `revocation.contained`.
 * Idempotent: an entry of the same identity lasting at least as long leaves everything unchanged.
 * `commitWith` is work that commits in the same transaction (a run's start nonce and plan record),
 * so relying parties see the entry after one commit: `first` runs right after the target lock and
 * must not append to the audit log; `audit` appends entries that precede the containment's own,
 * after the deny-list write, so the audit lock is taken last as in every other transaction.
 */
export async function containToken(db: Queryable, req: ContainTokenRequest, deps: ResponderDeps & { commitWith?: CommitWith } = {}): Promise<TokenContainment> {
  requireBase(req);
  const { kind, value, before } = checkTokenTarget(req);
  const expiresAt = toDate(req.expiresAt, 'expiresAt');
  const { appendAudit, clock } = resolveDeps(deps);
  const now = clock.now();
  const shape = (id: string | null, temporary: boolean, exp: Date, changed: boolean): TokenContainment => ({
    kind,
    value,
    ...(before ? { before: before.toISOString() } : {}),
    revocationId: id,
    temporary,
    expiresAt: exp.toISOString(),
    changed,
  });

  return refusalAudited(db, appendAudit, req, 'revocation.contained', targetSubject(kind, value), () =>
    withTransaction(db, async (tx) => {
      await lockTarget(tx, kind, value);
      await deps.commitWith?.first?.(tx);
      const existing = await liveEntry(tx, kind, value, before, now);
      if (existing && existing.expiresAt.getTime() >= expiresAt.getTime()) {
        await deps.commitWith?.audit?.(tx);
        if (existing.temporary && (await recordHold(tx, existing.id, req.heldBy))) await auditJoined(tx, appendAudit, req, targetSubject(kind, value), existing.id);
        return shape(existing.id, existing.temporary, existing.expiresAt, false);
      }
      if (!existing && expiresAt.getTime() <= now.getTime()) {
        await deps.commitWith?.audit?.(tx);
        return shape(null, true, expiresAt, false);
      }
      // revoke() keeps a permanent entry permanent and only ever extends the expiry.
      const row = await revoke(tx, { kind, value, ...(before ? { before } : {}), expiresAt, temporary: true, reason: req.reason });
      if (row.temporary) await recordHold(tx, row.id, req.heldBy);
      await deps.commitWith?.audit?.(tx);
      const out = shape(row.id, row.temporary, expiresAt, true);
      await appendAudit(tx, {
        actor: req.actor,
        action: 'revocation.contained',
        subject: targetSubject(kind, value),
        policyVersion: req.policyVersion,
        outcome: 'ok',
        details: { reason: req.reason, revocationId: row.id, temporary: row.temporary, expiresAt: out.expiresAt, before: out.before ?? null },
        ...(req.requestId !== undefined ? { requestId: req.requestId } : {}),
      });
      return out;
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// False alarm

export interface KeyTarget {
  kind: 'kid';
  issuer: string;
  kid: string;
}

export type LiftContainmentRequest = ResponderOpBase & (KeyTarget | TokenTarget) & {
  /** The run lifting its own containment; another run's hold on the same entry keeps it. */
  heldBy?: ContainmentHolder;
  /** The same for every attempt: a retry of a lift that was kept for another run adds no second entry. */
  requestId?: string;
  /**
   * A run's own false alarm, when the entry has meanwhile been made permanent by someone else (another
   * run's confirmation, the token's owner revoking it): the permanent entry stands, this run's hold is
   * released, and the false alarm is recorded as such instead of refused with REVOCATION_PERMANENT.
   */
  confirmedElsewhereStands?: boolean;
};

export interface LiftResult {
  /** The temporary entry that was removed, if one was. */
  liftedRevocationId: string | null;
  /** kid only: issuance was paused by a containment of this kid and is now resumed. */
  resumedIssuance: boolean;
  /** kid only: the issuer's active key after the lift (issuance continues with it). */
  activeKid?: string;
  /** Other runs still hold the containment, so the entry (and a key's pause) stays: each run's own false alarm lifts only its hold. */
  keptFor?: Holding[];
  /** The permanent entry that stands because it was confirmed elsewhere (with `confirmedElsewhereStands`). */
  confirmedRevocationId?: string;
  changed: boolean;
}

/** The `revocation.false_alarm` entry of a lift; one kept for another run carries the request id, so a retry adds no second entry. */
function auditFalseAlarm(tx: Queryable, appendAudit: AppendAudit, req: LiftContainmentRequest, subject: Record<string, string>, details: Record<string, unknown>, kept: boolean): Promise<unknown> {
  return appendAudit(tx, {
    actor: req.actor,
    action: 'revocation.false_alarm',
    subject,
    policyVersion: req.policyVersion,
    outcome: 'ok',
    details: { reason: req.reason, ...details },
    ...(kept && req.requestId !== undefined ? { requestId: req.requestId } : {}),
  });
}

/**
 * A false alarm: removes the TEMPORARY deny-list entry and, for a key, resumes issuance (with the
 * same key: keys are not touched) if, and only if, the pause in force is one a containment of this
 * kid wrote. Audited as `revocation.false_alarm`. A confirmed (permanent) revocation cannot be
 * lifted: REVOCATION_PERMANENT, audited as refused. Idempotent: nothing left to lift → `changed`
 * false, nothing written.
 */
export async function liftContainment(db: Queryable, req: LiftContainmentRequest, deps: ResponderDeps & { holderState?: HolderState } = {}): Promise<LiftResult> {
  requireBase(req);
  const { appendAudit, clock } = resolveDeps(deps);
  const now = clock.now();

  if (req.kind === 'kid') {
    const issuer = requireText(req.issuer, 'issuer');
    const kid = requireText(req.kid, 'kid', 1024);
    const subject = subjectOf('kid', kid, issuer);
    // Asked before the transaction (Temporal may take seconds): holds added meanwhile count as open.
    const known = await otherHolderStates(db, { kind: 'kid', value: kid, before: undefined }, req.heldBy, deps.holderState);
    return refusalAudited(db, appendAudit, req, 'revocation.false_alarm', subject, () =>
      withTransaction(db, async (tx) => {
        await lockTarget(tx, 'kid', kid);
        const key = await lockKey(tx, kid);
        assertIssuer(kid, key, issuer);
        const entry = await liveEntry(tx, 'kid', kid, undefined, now);
        if (entry && !entry.temporary) return standConfirmed(tx, appendAudit, req, subject, entry.id, known);
        const pause = await getPause(tx, issuer);
        const ours = isContainmentPause(pause, kid);
        const active = await tx.query<{ kid: string }>(`SELECT kid FROM signing_keys WHERE issuer = $1 AND state = 'active'`, [issuer]);
        const activeKid = active.rows[0]?.kid;
        const base: LiftResult = { liftedRevocationId: null, resumedIssuance: false, ...(activeKid ? { activeKid } : {}), changed: false };
        if (!entry && !ours) return base;
        const { holding: keptFor, dropped } = entry ? await releaseHolds(tx, entry.id, req.heldBy, known) : { holding: [], dropped: [] };
        if (keptFor.length > 0) {
          // Another revocation of this key still waits for its own sign-off: its containment stays.
          const out: LiftResult = { ...base, keptFor, changed: true };
          await auditFalseAlarm(tx, appendAudit, req, subject, { liftedRevocationId: null, resumedIssuance: false, activeKid: activeKid ?? null, keptFor, releasedFor: dropped }, true);
          return out;
        }
        if (entry) await liftRevocation(tx, entry.id);
        if (ours) await resumeIssuance(tx, issuer, req.actor, { appendAudit, policyVersion: req.policyVersion });
        const out: LiftResult = { ...base, liftedRevocationId: entry?.id ?? null, resumedIssuance: ours, changed: true };
        await auditFalseAlarm(tx, appendAudit, req, subject, { liftedRevocationId: out.liftedRevocationId, resumedIssuance: ours, activeKid: activeKid ?? null }, false);
        return out;
      }),
    );
  }

  const { kind, value, before } = checkTokenTarget(req);
  const known = await otherHolderStates(db, { kind, value, before }, req.heldBy, deps.holderState);
  return refusalAudited(db, appendAudit, req, 'revocation.false_alarm', targetSubject(kind, value), () =>
    withTransaction(db, async (tx) => {
      await lockTarget(tx, kind, value);
      const entry = await liveEntry(tx, kind, value, before, now);
      if (!entry) return { liftedRevocationId: null, resumedIssuance: false, changed: false };
      if (!entry.temporary) return standConfirmed(tx, appendAudit, req, targetSubject(kind, value), entry.id, known);
      const { holding: keptFor, dropped } = await releaseHolds(tx, entry.id, req.heldBy, known);
      if (keptFor.length > 0) {
        await auditFalseAlarm(tx, appendAudit, req, targetSubject(kind, value), { liftedRevocationId: null, before: before?.toISOString() ?? null, keptFor, releasedFor: dropped }, true);
        return { liftedRevocationId: null, resumedIssuance: false, keptFor, changed: true };
      }
      await liftRevocation(tx, entry.id);
      await auditFalseAlarm(tx, appendAudit, req, targetSubject(kind, value), { liftedRevocationId: entry.id, before: before?.toISOString() ?? null }, false);
      return { liftedRevocationId: entry.id, resumedIssuance: false, changed: true };
    }),
  );
}

/** A lift that meets a permanent entry: refused, or (for a run's own false alarm) the entry stands and the run's hold goes. */
async function standConfirmed(tx: Queryable, appendAudit: AppendAudit, req: LiftContainmentRequest, subject: Record<string, string>, id: string, known: Map<string, RunState>): Promise<LiftResult> {
  if (!req.confirmedElsewhereStands) throw permanent(id);
  await releaseHolds(tx, id, req.heldBy, known);
  await auditFalseAlarm(tx, appendAudit, req, subject, { liftedRevocationId: null, resumedIssuance: false, confirmedRevocationId: id }, true);
  return { liftedRevocationId: null, resumedIssuance: false, confirmedRevocationId: id, changed: true };
}

// ---------------------------------------------------------------------------------------------
// Approval of a token / subject revocation

export interface ConfirmRevocationRequest extends ResponderOpBase, TokenTarget {
  /** When every token the entry can match has expired; the entry is extended to it if shorter. */
  expiresAt: Instant;
}

export interface ConfirmResult {
  /** Null when the entry had lapsed and every token it could match has expired. */
  revocationId: string | null;
  expiresAt: string;
  changed: boolean;
}

/**
 * After sign-off on a jti/sub revocation: makes the entry permanent (creating it permanent when it
 * had lapsed but tokens it matches can still be valid, failing closed) and audits
 * `revocation.confirmed`. Idempotent: an already permanent entry lasting long enough is left alone.
 */
export async function confirmRevocation(db: Queryable, req: ConfirmRevocationRequest, deps: ResponderDeps = {}): Promise<ConfirmResult> {
  requireBase(req);
  const { kind, value, before } = checkTokenTarget(req);
  const expiresAt = toDate(req.expiresAt, 'expiresAt');
  const { appendAudit, clock } = resolveDeps(deps);
  const now = clock.now();
  return refusalAudited(db, appendAudit, req, 'revocation.confirmed', targetSubject(kind, value), () =>
    withTransaction(db, async (tx) => {
      await lockTarget(tx, kind, value);
      const entry = await liveEntry(tx, kind, value, before, now);
      const longEnough = entry !== undefined && entry.expiresAt.getTime() >= expiresAt.getTime();
      if (entry && !entry.temporary && longEnough) return { revocationId: entry.id, expiresAt: entry.expiresAt.toISOString(), changed: false };
      if (!entry && expiresAt.getTime() <= now.getTime()) return { revocationId: null, expiresAt: expiresAt.toISOString(), changed: false };
      let id: string;
      if (entry && longEnough) {
        await makePermanent(tx, entry.id);
        id = entry.id;
      } else {
        // Creates it, or makes the existing entry permanent and extends it, in one upsert.
        id = (await revoke(tx, { kind, value, ...(before ? { before } : {}), expiresAt, temporary: false, reason: req.reason })).id;
      }
      const finalExpiry = entry && longEnough ? entry.expiresAt : expiresAt;
      await appendAudit(tx, {
        actor: req.actor,
        action: 'revocation.confirmed',
        subject: targetSubject(kind, value),
        policyVersion: req.policyVersion,
        outcome: 'ok',
        details: { reason: req.reason, revocationId: id, wasTemporary: entry?.temporary ?? null, expiresAt: finalExpiry.toISOString(), before: before?.toISOString() ?? null },
      });
      return { revocationId: id, expiresAt: finalExpiry.toISOString(), changed: true };
    }),
  );
}

// ---------------------------------------------------------------------------------------------

function permanent(id: string): KeyturnError {
  return new KeyturnError('REVOCATION_PERMANENT', `revocation ${id} is already confirmed (permanent) and cannot be lifted as a false alarm`, 'A confirmed revocation stands; re-issue credentials instead.', { revocationId: id });
}

/** Codes that are the caller's mistake or a settled state: recorded as a refusal, then rethrown. */
const REFUSALS = new Set(['REVOCATION_INVALID', 'REVOCATION_PERMANENT', 'REVOCATION_RELEASE_UNSAFE', 'PAUSE_INVALID']);

/**
 * Runs `fn`; a refusal (its transaction rolled back) is audited separately with outcome `refused`,
 * best effort: a lost refusal record never masks the refusal itself.
 */
export async function refusalAudited<T>(db: Queryable, appendAudit: AppendAudit, req: ResponderOpBase, action: string, subject: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isKeyturnError(e) && REFUSALS.has(e.code)) {
      await appendAudit(db, { actor: req.actor, action, subject, policyVersion: req.policyVersion, outcome: 'refused', details: { code: e.code, message: e.message } }).catch(() => {});
    }
    throw e;
  }
}

/**
 * The key a revocation run contained (its `revocation.contained` entry) and that key's algorithm, as
 * KeyManager recorded it: what the run's probe must be signed with. Undefined when the run contained
 * no key.
 */
export async function containedKeyOfRun(db: Queryable, workflowId: string): Promise<{ kid: string; alg: SigningAlgorithm | undefined } | undefined> {
  const { rows } = await db.query<{ kid: string; alg: SigningAlgorithm | null }>(
    `SELECT a.subject ->> 'kid' AS kid, k.alg FROM audit_log a LEFT JOIN signing_keys k ON k.kid = a.subject ->> 'kid'
      WHERE a.actor ->> 'workflowId' = $1 AND a.action = 'revocation.contained' AND a.outcome = 'ok' AND a.subject ? 'kid'
      ORDER BY a.seq LIMIT 1`,
    [workflowId],
  );
  const row = rows[0];
  return row ? { kid: row.kid, alg: row.alg ?? undefined } : undefined;
}
