import { createHash } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';
import { canonicalJson } from '../auditor/canonical-json.js';
import type { KeyRecord } from '../key-manager/types.js';
import type { Clock } from '../shared/clock.js';
import { issuerPolicy } from './policy.js';
import { isRsa, tokenLifetimeSeconds } from './policy-rules.js';
import type { IssuerPolicy, Policy, SigningAlgorithm } from './policy-types.js';

export interface NewKeySpec {
  alg: SigningAlgorithm;
  /** RS256 / PS256 only. */
  rsaModulusLength?: number;
  /** ES256 → P-256, EdDSA → Ed25519. */
  crv?: 'P-256' | 'Ed25519';
}

export interface RotationTimeline {
  /** The new key enters the JWKS (not yet signing). */
  publishAt: string;
  /** The new key starts signing: publishAt + prePublishLead (0 for an emergency). */
  activateAt: string;
  /** The old key leaves the JWKS: activateAt + postRetireOverlap, when no token it signed is still accepted. */
  retireOldAt: string;
  /** The old key is removed: the same instant as retireOldAt. */
  removeOldAt: string;
}

export interface RotationPlan {
  /** The first 12 hex digits of planHash. */
  planId: string;
  issuer: string;
  newKey: NewKeySpec;
  /** The issuer's active key, absent for a first key. */
  replacesKid?: string;
  timeline: RotationTimeline;
  reason: string;
  requester: string;
  policyVersion: string;
  /** True only for planEmergencyRotation: no pre-publication wait. */
  emergency: boolean;
  /** The caller's run id, when given: binds the plan (and any sign-off of it) to one run. */
  runId?: string;
  /** sha256 (hex) of the canonical JSON of every other member except planId. */
  planHash: string;
}

export interface PlanRequest {
  policy: Policy;
  issuer: string;
  /** The keys KeyManager holds; only this issuer's active key matters. */
  currentKeys: KeyRecord[];
  /** Another rotation of this issuer is running. */
  inFlight: boolean;
  reason: string;
  requester: string;
  clock: Clock;
  /** The caller's run id, hashed into the plan. */
  runId?: string;
  /** @deprecated The caller's run id under its old name; use runId. The plan's own planId is derived from its hash. */
  planId?: string;
}

/**
 * Plans a scheduled rotation from the policy alone: which key to make, which it replaces, and when
 * each step happens. Pure: the same request and clock give the same plan and hash.
 */
export function planRotation(req: PlanRequest): RotationPlan {
  const p = checkRequest(req);
  assertSafeLead(p, p.prePublishLeadSeconds);
  return buildPlan(req, p, { leadSeconds: p.prePublishLeadSeconds, emergency: false });
}

/**
 * Plans a rotation away from a compromised key: the new key is published and signs at once (lead 0),
 * accepting that verifiers with a cached JWKS reject its tokens until they refresh — failing closed.
 * The old key still stays published for the full overlap (revoke it to stop trusting it sooner).
 */
export function planEmergencyRotation(req: PlanRequest): RotationPlan {
  const p = checkRequest(req);
  return buildPlan(req, p, { leadSeconds: 0, emergency: true });
}

function checkRequest(req: PlanRequest): IssuerPolicy {
  const p = issuerPolicy(req.policy, req.issuer);
  if (req.inFlight) {
    throw new KeyturnError('PLAN_IN_FLIGHT', `a rotation of ${req.issuer} is already in flight`, 'Wait for it to finish, or cancel it, before planning another.', { issuer: req.issuer });
  }
  if (!req.reason.trim()) throw new KeyturnError('PLAN_REASON_REQUIRED', 'a rotation plan needs a reason', 'Say why the key is being rotated.');
  // Re-checked here even though parsePolicy enforces it: a Policy object may not have come from parsePolicy.
  const lifetime = tokenLifetimeSeconds(p);
  if (p.postRetireOverlapSeconds < lifetime) {
    throw unsafe('overlap-shorter-than-token-lifetime', `the overlap (${p.postRetireOverlapSeconds}s) is shorter than the longest token lifetime, maxTokenAge + clockSkew (${lifetime}s)`);
  }
  return p;
}

function assertSafeLead(p: IssuerPolicy, leadSeconds: number): void {
  if (leadSeconds < p.jwksMaxAgeSeconds) {
    throw unsafe('lead-shorter-than-jwks-max-age', `the pre-publication lead (${leadSeconds}s) is shorter than the JWKS max-age (${p.jwksMaxAgeSeconds}s)`);
  }
}

function unsafe(rule: string, message: string): KeyturnError {
  return new KeyturnError('PLAN_UNSAFE', `${message} (rule ${rule})`, 'Fix the policy; `keyturn policy check` explains each rule.', { rule });
}

function buildPlan(req: PlanRequest, p: IssuerPolicy, opts: { leadSeconds: number; emergency: boolean }): RotationPlan {
  const start = req.clock.now().getTime();
  const at = (seconds: number) => new Date(start + seconds * 1000).toISOString();
  const retireAfter = opts.leadSeconds + p.postRetireOverlapSeconds;
  const active = req.currentKeys.find((k) => k.issuer === req.issuer && k.state === 'active');
  const runId = req.runId ?? req.planId;
  const body: Omit<RotationPlan, 'planId' | 'planHash'> = {
    issuer: req.issuer,
    newKey: newKeySpec(p),
    ...(active ? { replacesKid: active.kid } : {}),
    timeline: { publishAt: at(0), activateAt: at(opts.leadSeconds), retireOldAt: at(retireAfter), removeOldAt: at(retireAfter) },
    reason: req.reason,
    requester: req.requester,
    policyVersion: req.policy.version,
    emergency: opts.emergency,
    ...(runId !== undefined ? { runId } : {}),
  };
  const planHash = hashPlan(body);
  return { planId: planHash.slice(0, 12), ...body, planHash };
}

function newKeySpec(p: IssuerPolicy): NewKeySpec {
  if (isRsa(p.algorithm)) return { alg: p.algorithm, rsaModulusLength: p.rsaModulusLength };
  return { alg: p.algorithm, crv: p.algorithm === 'ES256' ? 'P-256' : 'Ed25519' };
}

/** sha256 (hex) over the sorted-key JSON of a plan without its planId and planHash. */
export function hashPlan(plan: Omit<RotationPlan, 'planId' | 'planHash'> | RotationPlan): string {
  const { planId: _id, planHash: _hash, ...body } = plan as RotationPlan;
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}
