import { createHash } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';
import { canonicalJson } from '../auditor/canonical-json.js';
import type { KeyRecord } from '../key-manager/types.js';
import type { Clock } from '../shared/clock.js';
import { issuerPolicy } from './policy.js';
import type { Policy, SigningAlgorithm } from './policy-types.js';

export interface RotationPlan {
  planId: string;
  issuer: string;
  newKey: { alg: SigningAlgorithm; rsaModulusLength?: number; crv?: 'P-256' | 'Ed25519' };
  replacesKid?: string;
  timeline: { publishAt: string; activateAt: string; retireOldAt: string; removeOldAt: string };
  reason: string;
  requester: string;
  policyVersion: string;
  emergency: boolean;
  planHash: string;
}

export interface PlanRequest {
  policy: Policy;
  issuer: string;
  currentKeys: KeyRecord[];
  /** Another rotation of this issuer is running. */
  inFlight: boolean;
  reason: string;
  requester: string;
  clock: Clock;
  /** The run's id; part of the hashed plan so an attestation binds to exactly one run's plan. */
  planId: string;
  emergency?: boolean;
}

/** Plans one rotation from the policy alone: what key, replacing what, on what timeline. */
export function planRotation(req: PlanRequest): RotationPlan {
  const p = issuerPolicy(req.policy, req.issuer);
  if (req.inFlight) throw new KeyturnError('PLAN_IN_FLIGHT', `a rotation of ${req.issuer} is already in flight`, 'Wait for it to end or roll it back.');
  if (!req.reason.trim()) throw new KeyturnError('PLAN_UNSAFE', 'a plan needs a reason', 'Say why the key is rotated.');
  const emergency = req.emergency ?? false;
  const lead = emergency ? 0 : p.prePublishLeadSeconds;
  if (!emergency && lead < p.jwksMaxAgeSeconds) throw new KeyturnError('PLAN_UNSAFE', `lead ${lead}s is shorter than the JWKS max-age ${p.jwksMaxAgeSeconds}s`, 'Fix the policy.', { rule: 'lead-shorter-than-jwks-max-age' });
  if (p.postRetireOverlapSeconds < p.maxTokenAgeSeconds) throw new KeyturnError('PLAN_UNSAFE', `overlap ${p.postRetireOverlapSeconds}s is shorter than the longest token lifetime ${p.maxTokenAgeSeconds}s`, 'Fix the policy.', { rule: 'overlap-shorter-than-token-lifetime' });
  const active = req.currentKeys.find((k) => k.issuer === req.issuer && k.state === 'active');
  const now = req.clock.now().getTime();
  const at = (seconds: number) => new Date(now + seconds * 1000).toISOString();
  const rsa = p.algorithm === 'RS256' || p.algorithm === 'PS256';
  const body: Omit<RotationPlan, 'planHash'> = {
    planId: req.planId,
    issuer: req.issuer,
    newKey: { alg: p.algorithm, ...(rsa ? { rsaModulusLength: p.rsaModulusLength } : { crv: p.algorithm === 'ES256' ? 'P-256' : 'Ed25519' }) },
    ...(active ? { replacesKid: active.kid } : {}),
    timeline: { publishAt: at(0), activateAt: at(lead), retireOldAt: at(lead + p.postRetireOverlapSeconds), removeOldAt: at(lead + p.postRetireOverlapSeconds) },
    reason: req.reason,
    requester: req.requester,
    policyVersion: req.policy.version,
    emergency,
  };
  return { ...body, planHash: createHash('sha256').update(canonicalJson(body)).digest('hex') };
}
