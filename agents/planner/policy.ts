import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { KeyturnError } from '../../config/errors.js';
import { formatDuration, parseDuration } from './duration.js';
import type { IssuerPolicy, Policy } from './policy-types.js';

const ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const s = parseDuration(v);
  if (s === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (use e.g. 30s, 10m, 1h, 90d)`, params: { rule: 'duration-unparsable' } });
    return z.NEVER;
  }
  return s;
});

const approvalsSchema = z.object({
  approvers: z.array(z.string().regex(/^(U|W|S)[A-Z0-9]{2,}$|^cli:[a-z0-9._-]+$/, 'an approver is a Slack user (U…/W…), a user group (S…) or cli:<name>')).min(1),
  quorum: z.number().int().min(1).default(1),
  timeout: duration.default(3600),
  escalationInterval: duration.default(900),
  channels: z.array(z.enum(['slack', 'cli'])).min(1).default(['slack']),
  slackChannel: z.string().optional(),
  escalationChannel: z.string().optional(),
  escalationGroup: z.string().optional(),
}).strict();

const issuerSchema = z.object({
  issuer: z.string().url(),
  audiences: z.array(z.string().min(1)).min(1, 'at least one audience is required'),
  algorithm: z.string().default('RS256'),
  rsaModulusLength: z.number().int().default(2048),
  accessTokenTtl: duration.default(600),
  clockSkew: duration.default(60),
  maxTokenAge: duration.optional(),
  rotationPeriod: duration.default(90 * 86_400),
  jwksMaxAge: duration.default(300),
  prePublishLead: duration,
  postRetireOverlap: duration,
  revocationFreshness: duration.default(30),
  approvals: approvalsSchema,
}).strict();

const documentSchema = z.object({ issuers: z.array(issuerSchema).min(1) }).strict();

function refuse(field: string, rule: string, message: string): never {
  throw new KeyturnError('POLICY_INVALID', `policy ${field}: ${message} [${rule}]`, 'Fix the policy document and run `keyturn policy check` again.', { field, rule });
}

/** The single fenced ```yaml block of a policy.md. */
export function extractYamlBlock(text: string): string {
  const blocks = [...text.matchAll(/^```ya?ml[ \t]*\r?\n([\s\S]*?)^```[ \t]*$/gm)];
  if (blocks.length !== 1) {
    throw new KeyturnError('POLICY_NO_YAML_BLOCK', `a policy document holds exactly one fenced yaml block (found ${blocks.length})`, 'Put the machine-readable policy in one ```yaml block.');
  }
  return blocks[0]![1]!;
}

/** Parses and validates a policy document; unsafe or ambiguous policies are refused, naming the field and the rule. */
export function parsePolicy(text: string): Policy {
  let raw: unknown;
  try {
    raw = parseYaml(extractYamlBlock(text), { uniqueKeys: true });
  } catch (e) {
    if (e instanceof KeyturnError) throw e;
    refuse('(yaml)', 'yaml-unparsable', (e as Error).message.split('\n')[0]!);
  }
  const parsed = documentSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const params = (issue as { params?: { rule?: string } }).params;
    refuse(fieldPath(issue.path), params?.rule ?? `schema-${issue.code}`, issue.message);
  }
  const issuers = parsed.data.issuers.map((doc, i) => checkIssuer(doc, `issuers[${i}]`));
  const seen = new Set<string>();
  issuers.forEach((p, i) => {
    if (seen.has(p.issuer)) refuse(`issuers[${i}].issuer`, 'issuer-duplicate', `${p.issuer} is listed twice`);
    seen.add(p.issuer);
  });
  return { version: createHash('sha256').update(text, 'utf8').digest('hex'), issuers };
}

function fieldPath(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('') || '(root)';
}

function checkIssuer(doc: z.infer<typeof issuerSchema>, at: string): IssuerPolicy {
  const url = new URL(doc.issuer);
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) refuse(`${at}.issuer`, 'issuer-not-https', 'an issuer must be an https URL (http only for localhost)');
  const alg = doc.algorithm;
  if (!(ALGORITHMS as readonly string[]).includes(alg)) refuse(`${at}.algorithm`, 'algorithm-forbidden', `"${alg}" is not allowed; use one of ${ALGORITHMS.join(', ')} (never none or HS*)`);
  const rsa = alg === 'RS256' || alg === 'PS256';
  if (rsa && doc.rsaModulusLength < 2048) refuse(`${at}.rsaModulusLength`, 'rsa-too-small', `RSA keys must be at least 2048 bits (got ${doc.rsaModulusLength})`);
  const ttl = doc.accessTokenTtl;
  if (ttl < 1) refuse(`${at}.accessTokenTtl`, 'ttl-not-positive', 'the access-token TTL must be at least 1s');
  const maxTokenAge = doc.maxTokenAge ?? ttl + doc.clockSkew;
  if (maxTokenAge < ttl) refuse(`${at}.maxTokenAge`, 'max-age-shorter-than-ttl', `maxTokenAge (${formatDuration(maxTokenAge)}) is shorter than the token TTL (${formatDuration(ttl)})`);
  if (doc.postRetireOverlap < ttl + doc.clockSkew) {
    refuse(`${at}.postRetireOverlap`, 'overlap-shorter-than-token-lifetime', `the overlap (${formatDuration(doc.postRetireOverlap)}) must be at least the token TTL plus skew (${formatDuration(ttl + doc.clockSkew)}): tokens must never outlive their key`);
  }
  if (doc.prePublishLead < doc.jwksMaxAge) {
    refuse(`${at}.prePublishLead`, 'lead-shorter-than-jwks-max-age', `the pre-publication lead (${formatDuration(doc.prePublishLead)}) must be at least the JWKS max-age (${formatDuration(doc.jwksMaxAge)}) so every verifier has the key before it signs`);
  }
  const a = doc.approvals;
  if (a.quorum > a.approvers.length) refuse(`${at}.approvals.quorum`, 'quorum-unreachable', `quorum ${a.quorum} exceeds the ${a.approvers.length} listed approver(s)`);
  if (a.channels.includes('cli') && !a.approvers.some((x) => x.startsWith('cli:'))) refuse(`${at}.approvals.channels`, 'cli-channel-without-cli-approver', 'the cli channel needs at least one cli:<name> approver');
  return {
    issuer: doc.issuer,
    audiences: doc.audiences,
    algorithm: alg as IssuerPolicy['algorithm'],
    rsaModulusLength: doc.rsaModulusLength,
    accessTokenTtlSeconds: ttl,
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
      ...(a.slackChannel ? { slackChannel: a.slackChannel } : {}),
      ...(a.escalationChannel ? { escalationChannel: a.escalationChannel } : {}),
      ...(a.escalationGroup ? { escalationGroup: a.escalationGroup } : {}),
    },
  };
}

export async function loadPolicy(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new KeyturnError('POLICY_NOT_FOUND', `cannot read policy ${path}`, 'Pass a path, or set KEYTURN_POLICY.');
  }
  return parsePolicy(text);
}

export function issuerPolicy(policy: Policy, issuer: string): IssuerPolicy {
  const found = policy.issuers.find((p) => p.issuer === issuer);
  if (!found) throw new KeyturnError('PLAN_UNKNOWN_ISSUER', `the policy has no issuer ${issuer}`, `Known issuers: ${policy.issuers.map((p) => p.issuer).join(', ')}`);
  return found;
}

/** Human-readable effective policy for `keyturn policy check`. */
export function effectivePolicyText(policy: Policy): string {
  const lines = [`policy version ${policy.version}`];
  for (const p of policy.issuers) {
    const d = formatDuration;
    lines.push(
      '',
      `issuer ${p.issuer}`,
      `  audiences          ${p.audiences.join(', ')}`,
      `  algorithm          ${p.algorithm}${p.algorithm.endsWith('S256') && p.algorithm !== 'ES256' ? ` (${p.rsaModulusLength}-bit RSA)` : ''}`,
      `  access-token TTL   ${d(p.accessTokenTtlSeconds)} (skew ${d(p.clockSkewSeconds)}, max age ${d(p.maxTokenAgeSeconds)})`,
      `  rotation period    ${d(p.rotationPeriodSeconds)}`,
      `  JWKS max-age       ${d(p.jwksMaxAgeSeconds)}`,
      `  lead / overlap     ${d(p.prePublishLeadSeconds)} / ${d(p.postRetireOverlapSeconds)}`,
      `  revocation fresh   ${d(p.revocationFreshnessSeconds)}`,
      `  approvals          ${p.approvals.quorum} of ${p.approvals.approvers.join(', ')} via ${p.approvals.channels.join(', ')}; timeout ${d(p.approvals.timeoutSeconds)}, escalate every ${d(p.approvals.escalationIntervalSeconds)}`,
    );
  }
  return lines.join('\n');
}
