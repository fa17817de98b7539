import { formatDuration as d } from './duration.js';
import { isRsa } from './policy-rules.js';
import type { Policy } from './policy-types.js';

/**
 * The effective policy in human units, defaults filled in: what `keyturn policy check` prints.
 * The first line is `policy version <sha256>`; test/cli/policy-check.test.ts relies on the layout.
 */
export function effectivePolicyText(policy: Policy): string {
  const lines = [`policy version ${policy.version}`];
  for (const p of policy.issuers) {
    const a = p.approvals;
    lines.push(
      '',
      `issuer ${p.issuer}`,
      `  audiences          ${p.audiences.join(', ')}`,
      `  algorithm          ${p.algorithm}${isRsa(p.algorithm) ? ` (${p.rsaModulusLength}-bit RSA)` : ''}`,
      `  access-token TTL   ${d(p.accessTokenTtlSeconds)} (skew ${d(p.clockSkewSeconds)}, max age ${d(p.maxTokenAgeSeconds)})`,
      `  rotation period    ${d(p.rotationPeriodSeconds)}`,
      `  JWKS max-age       ${d(p.jwksMaxAgeSeconds)}`,
      `  lead / overlap     ${d(p.prePublishLeadSeconds)} / ${d(p.postRetireOverlapSeconds)}`,
      `  revocation fresh   ${d(p.revocationFreshnessSeconds)}`,
      `  approvals          ${a.quorum} of ${a.approvers.join(', ')} via ${a.channels.join(', ')}; timeout ${d(a.timeoutSeconds)}, escalate every ${d(a.escalationIntervalSeconds)}`,
    );
    if (a.slackChannel) lines.push(`  slack channel      ${a.slackChannel}`);
    if (a.escalationChannel) lines.push(`  escalation channel ${a.escalationChannel}`);
    if (a.escalationGroup) lines.push(`  escalation group   ${a.escalationGroup}`);
    if (a.requireSignedStart) lines.push('  signed starts      required');
  }
  return lines.join('\n');
}
