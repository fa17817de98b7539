import { issuerSlug } from '../../workflows/ids.js';
import { KeyturnError } from '../../config/errors.js';
import { CANARY_AUDIENCE } from '../shared/canary.js';
import { formatDuration as d } from './duration.js';
import { personOf } from './people.js';
import type { IssuerDocument } from './policy-schema.js';
import type { IssuerPolicy, SigningAlgorithm } from './policy-types.js';

/** The only signing algorithms keyturn will ever use; `none` and every HMAC algorithm are refused. */
export const ALLOWED_ALGORITHMS: readonly SigningAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];
export const MIN_RSA_MODULUS_LENGTH = 2048;
const LOCAL_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/** A refusal of the policy: message names the field and the rule; details carry both for machines. */
export function policyRefusal(field: string, rule: string, message: string): KeyturnError {
  return new KeyturnError('POLICY_INVALID', `policy ${field}: ${message} (rule ${rule})`, 'Fix the policy document and run `keyturn policy check` again.', { field, rule });
}

function refuse(field: string, rule: string, message: string): never {
  throw policyRefusal(field, rule, message);
}

export function isRsa(alg: SigningAlgorithm): boolean {
  return alg === 'RS256' || alg === 'PS256';
}

/**
 * The longest a token signed by a key is still accepted after that key stops signing: a validator
 * accepts a token whose `iat` is up to maxTokenAge + clockSkew old. The old key must stay published
 * at least that long, or tokens it signed would fail to verify before they expire.
 */
export function tokenLifetimeSeconds(p: Pick<IssuerPolicy, 'maxTokenAgeSeconds' | 'clockSkewSeconds'>): number {
  return p.maxTokenAgeSeconds + p.clockSkewSeconds;
}

/** Applies every safety rule to one schema-valid issuer entry at `at` (e.g. "issuers[0]"). */
export function checkIssuer(doc: IssuerDocument, at: string): IssuerPolicy {
  checkIssuerUrl(doc.issuer, `${at}.issuer`);
  if (doc.audiences.length === 0) refuse(`${at}.audiences`, 'audiences-empty', 'must list at least one audience');
  // Canaries cross run histories: they must stay useless to every relying party.
  if (doc.audiences.includes(CANARY_AUDIENCE)) refuse(`${at}.audiences`, 'audience-reserved', `must not list ${CANARY_AUDIENCE}, the audience of keyturn's own canary tokens`);
  const algorithm = checkAlgorithm(doc.algorithm, `${at}.algorithm`);
  if (isRsa(algorithm) && doc.rsaModulusLength < MIN_RSA_MODULUS_LENGTH) {
    refuse(`${at}.rsaModulusLength`, 'rsa-too-small', `must be at least ${MIN_RSA_MODULUS_LENGTH} bits for ${algorithm} (got ${doc.rsaModulusLength})`);
  }
  if (doc.accessTokenTtl < 1) refuse(`${at}.accessTokenTtl`, 'ttl-not-positive', 'must be at least 1s');
  const maxTokenAge = doc.maxTokenAge ?? doc.accessTokenTtl + doc.clockSkew;
  if (maxTokenAge < doc.accessTokenTtl) {
    refuse(`${at}.maxTokenAge`, 'max-age-shorter-than-ttl', `${d(maxTokenAge)} must be at least the access-token TTL (${d(doc.accessTokenTtl)})`);
  }
  const lifetime = tokenLifetimeSeconds({ maxTokenAgeSeconds: maxTokenAge, clockSkewSeconds: doc.clockSkew });
  if (doc.postRetireOverlap < lifetime) {
    refuse(`${at}.postRetireOverlap`, 'overlap-shorter-than-token-lifetime', `${d(doc.postRetireOverlap)} must be at least maxTokenAge + clockSkew (${d(lifetime)}) so no token outlives its key`);
  }
  if (doc.prePublishLead < doc.jwksMaxAge) {
    refuse(`${at}.prePublishLead`, 'lead-shorter-than-jwks-max-age', `${d(doc.prePublishLead)} must be at least jwksMaxAge (${d(doc.jwksMaxAge)}) so every verifier has a new key before it signs`);
  }
  if (doc.rotationPeriod < doc.prePublishLead + doc.postRetireOverlap) {
    refuse(`${at}.rotationPeriod`, 'rotation-period-too-short', `${d(doc.rotationPeriod)} must be at least prePublishLead + postRetireOverlap (${d(doc.prePublishLead + doc.postRetireOverlap)}) so rotations do not overlap`);
  }
  const a = doc.approvals;
  if (a.approvers.length === 0) refuse(`${at}.approvals.approvers`, 'approvers-empty', 'must list at least one approver');
  if (a.channels.length === 0) refuse(`${at}.approvals.channels`, 'channels-empty', 'must list at least one channel');
  if (a.quorum < 1) refuse(`${at}.approvals.quorum`, 'quorum-not-positive', `must be at least 1 (got ${a.quorum})`);
  const seenIds = new Set<string>();
  a.people.forEach((ids, i) => {
    for (const id of ids) {
      if (seenIds.has(id)) refuse(`${at}.approvals.people[${i}]`, 'person-listed-twice', `${id} belongs to more than one person`);
      seenIds.add(id);
    }
  });
  const reachable = reachableApprovers(a.approvers, a.channels, a.people);
  if (a.quorum > reachable) {
    refuse(`${at}.approvals.quorum`, 'quorum-unreachable', `${a.quorum} exceeds the ${reachable} distinct approver(s) reachable through ${a.channels.join(', ')}`);
  }
  return {
    issuer: doc.issuer,
    audiences: doc.audiences,
    algorithm,
    rsaModulusLength: doc.rsaModulusLength,
    accessTokenTtlSeconds: doc.accessTokenTtl,
    clockSkewSeconds: doc.clockSkew,
    maxTokenAgeSeconds: maxTokenAge,
    rotationPeriodSeconds: doc.rotationPeriod,
    jwksMaxAgeSeconds: doc.jwksMaxAge,
    prePublishLeadSeconds: doc.prePublishLead,
    postRetireOverlapSeconds: doc.postRetireOverlap,
    revocationFreshnessSeconds: doc.revocationFreshness,
    approvals: {
      approvers: a.approvers,
      quorum: a.quorum,
      timeoutSeconds: a.timeout,
      escalationIntervalSeconds: a.escalationInterval,
      channels: a.channels,
      ...(a.people.length > 0 ? { people: a.people } : {}),
      ...(a.slackChannel !== undefined ? { slackChannel: a.slackChannel } : {}),
      ...(a.escalationChannel !== undefined ? { escalationChannel: a.escalationChannel } : {}),
      ...(a.escalationGroup !== undefined ? { escalationGroup: a.escalationGroup } : {}),
      ...(a.requireSignedStart ? { requireSignedStart: true } : {}),
    },
  };
}

/** Refuses an issuer listed twice: which entry would a token's `iss` pick? */
export function checkDistinctIssuers(issuers: readonly IssuerPolicy[]): void {
  const seen = new Set<string>();
  const slugs = new Map<string, string>();
  issuers.forEach((p, i) => {
    if (seen.has(p.issuer)) refuse(`issuers[${i}].issuer`, 'issuer-duplicate', `${p.issuer} is listed more than once`);
    seen.add(p.issuer);
    // Runs and schedules are named by the slug: two issuers sharing one would share a schedule.
    const other = slugs.get(issuerSlug(p.issuer));
    if (other !== undefined) refuse(`issuers[${i}].issuer`, 'issuer-slug-collision', `${p.issuer} and ${other} differ only in case, punctuation or past 80 characters, so keyturn would name their runs and schedules alike; make them differ in a letter or digit`);
    slugs.set(issuerSlug(p.issuer), p.issuer);
  });
}

function checkIssuerUrl(issuer: string, field: string): void {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    refuse(field, 'issuer-not-url', `${JSON.stringify(issuer)} is not a URL`);
  }
  const local = LOCAL_HOSTS.includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    refuse(field, 'issuer-not-https', `${issuer} must be an https URL (plain http only for localhost / 127.0.0.1)`);
  }
}

function checkAlgorithm(alg: string, field: string): SigningAlgorithm {
  const allowed = ALLOWED_ALGORITHMS.find((a) => a === alg);
  if (!allowed) refuse(field, 'algorithm-forbidden', `${JSON.stringify(alg)} is not allowed; use one of ${ALLOWED_ALGORITHMS.join(', ')} (never none or HS*)`);
  return allowed;
}

/** Distinct people some enabled channel can reach: cli:<name> needs the cli channel, Slack ids the slack one. A user group counts once, so does a person with several ids. */
export function reachableApprovers(approvers: readonly string[], channels: readonly string[], people: readonly string[][]): number {
  return new Set(approvers.filter((a) => channels.includes(a.startsWith('cli:') ? 'cli' : 'slack')).map((a) => personOf({ people: [...people] }, a))).size;
}
