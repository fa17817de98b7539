import { formatDuration as d } from './duration.js';
import { isRsa } from './policy-rules.js';
import type { IssuerPolicy, Policy } from './policy-types.js';

/**
 * What changes, in the terms an approver reads, when `next` replaces `old`: one line per change,
 * issuers in `next`'s order (removed ones last), e.g.
 *
 *   issuer https://b added
 *   https://a: access-token TTL 10m → 15m
 *   https://a: approvers + U123
 *   https://a: approvers − cli:bob
 *
 * Empty when the effective policy is the same (only prose, formatting, order or spelled-out
 * defaults changed), even though the version differs. Pure.
 */
export function diffPolicies(old: Policy, next: Policy): string[] {
  const lines: string[] = [];
  const before = new Map(old.issuers.map((p) => [p.issuer, p]));
  const after = new Set(next.issuers.map((p) => p.issuer));
  for (const n of next.issuers) {
    const o = before.get(n.issuer);
    if (!o) lines.push(`issuer ${n.issuer} added`);
    else lines.push(...diffIssuer(o, n).map((l) => `${n.issuer}: ${l}`));
  }
  for (const o of old.issuers) if (!after.has(o.issuer)) lines.push(`issuer ${o.issuer} removed`);
  return lines;
}

function diffIssuer(o: IssuerPolicy, n: IssuerPolicy): string[] {
  const lines: string[] = [];
  const value = (label: string, a: string | number, b: string | number) => {
    if (a !== b) lines.push(`${label} ${a} → ${b}`);
  };
  const duration = (label: string, a: number, b: number) => value(label, d(a), d(b));
  const set = (label: string, a: readonly string[], b: readonly string[]) => {
    for (const x of b) if (!a.includes(x)) lines.push(`${label} + ${x}`);
    for (const x of a) if (!b.includes(x)) lines.push(`${label} − ${x}`);
  };
  const optional = (label: string, a: string | undefined, b: string | undefined) => value(label, a ?? '(none)', b ?? '(none)');

  set('audiences', o.audiences, n.audiences);
  value('algorithm', o.algorithm, n.algorithm);
  if ((isRsa(o.algorithm) || isRsa(n.algorithm)) && o.rsaModulusLength !== n.rsaModulusLength) {
    lines.push(`RSA modulus ${o.rsaModulusLength} → ${n.rsaModulusLength} bits`);
  }
  duration('access-token TTL', o.accessTokenTtlSeconds, n.accessTokenTtlSeconds);
  duration('clock skew', o.clockSkewSeconds, n.clockSkewSeconds);
  duration('max token age', o.maxTokenAgeSeconds, n.maxTokenAgeSeconds);
  duration('rotation period', o.rotationPeriodSeconds, n.rotationPeriodSeconds);
  duration('JWKS max-age', o.jwksMaxAgeSeconds, n.jwksMaxAgeSeconds);
  duration('pre-publish lead', o.prePublishLeadSeconds, n.prePublishLeadSeconds);
  duration('post-retire overlap', o.postRetireOverlapSeconds, n.postRetireOverlapSeconds);
  duration('revocation freshness', o.revocationFreshnessSeconds, n.revocationFreshnessSeconds);

  const a = o.approvals;
  const b = n.approvals;
  set('approvers', a.approvers, b.approvers);
  value('quorum', a.quorum, b.quorum);
  duration('approval timeout', a.timeoutSeconds, b.timeoutSeconds);
  duration('escalation interval', a.escalationIntervalSeconds, b.escalationIntervalSeconds);
  set('approval channels', a.channels, b.channels);
  set('people', (a.people ?? []).map((ids) => ids.join(' = ')), (b.people ?? []).map((ids) => ids.join(' = ')));
  optional('Slack channel', a.slackChannel, b.slackChannel);
  optional('escalation channel', a.escalationChannel, b.escalationChannel);
  optional('escalation group', a.escalationGroup, b.escalationGroup);
  value('signed starts', a.requireSignedStart ? 'required' : 'optional', b.requireSignedStart ? 'required' : 'optional');
  return lines;
}
