import { z } from 'zod';
import { parseDuration } from './duration.js';

/**
 * The shape of the policy document's yaml block: field names, types and units only. Durations are
 * converted to whole seconds here; the safety rules that relate fields to each other live in
 * ./policy-rules.ts so each refusal carries its own rule id.
 */

/** A human duration ("30s", "10m", "1h", "90d") → whole seconds. */
const duration = z.unknown().transform((value, ctx) => {
  if (value === undefined) {
    ctx.addIssue({ code: 'custom', message: 'is required', params: { rule: 'field-required' } });
    return z.NEVER;
  }
  const seconds = typeof value === 'string' ? parseDuration(value) : undefined;
  if (seconds === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(value)} is not a duration; write a whole number and a unit, e.g. 30s, 10m, 1h, 90d`,
      params: { rule: 'duration-unparsable' },
    });
    return z.NEVER;
  }
  return seconds;
});

const SLACK_OR_CLI_APPROVER = /^[UWS][A-Z0-9]{2,}$|^cli:[a-z0-9._-]+$/;
const PERSON_ID = /^[UW][A-Z0-9]{2,}$|^cli:[a-z0-9._-]+$/;

export const approvalsSchema = z
  .object({
    approvers: z.array(z.string().regex(SLACK_OR_CLI_APPROVER, 'an approver is a Slack user (U…/W…), a Slack user group (S…) or cli:<name>')),
    quorum: z.number().int().default(1),
    timeout: duration.default(3600),
    escalationInterval: duration.default(900),
    channels: z.array(z.enum(['slack', 'cli'])).default(['slack']),
    /** The ids one person has in several channels, e.g. [cli:alice, U0ALICE]: counted once, never approving their own run. */
    people: z.array(z.array(z.string().regex(PERSON_ID, 'a person is known by Slack user ids (U…/W…) and cli:<name> ids, not user groups')).min(2, 'list at least two ids of the same person')).default([]),
    slackChannel: z.string().min(1).optional(),
    escalationChannel: z.string().min(1).optional(),
    escalationGroup: z.string().min(1).optional(),
    /** Refuse a run whose requester did not sign its start request (see agents/approvals/start-request.ts). */
    requireSignedStart: z.boolean().default(false),
  })
  .strict();

export const issuerSchema = z
  .object({
    issuer: z.string(),
    audiences: z.array(z.string().min(1)),
    /** Any string here; ./policy-rules.ts refuses everything outside the allow-list by name. */
    algorithm: z.string().default('RS256'),
    rsaModulusLength: z.number().int().default(2048),
    accessTokenTtl: duration.default(600),
    clockSkew: duration.default(60),
    /** Defaults to accessTokenTtl + clockSkew. */
    maxTokenAge: duration.optional(),
    rotationPeriod: duration.default(90 * 86_400),
    jwksMaxAge: duration.default(300),
    prePublishLead: duration,
    postRetireOverlap: duration,
    revocationFreshness: duration.default(30),
    approvals: approvalsSchema,
  })
  .strict();

export const policyDocumentSchema = z.object({ issuers: z.array(issuerSchema) }).strict();

export type IssuerDocument = z.infer<typeof issuerSchema>;
export type PolicyDocument = z.infer<typeof policyDocumentSchema>;

/** Turns zod's first complaint into the field path and stable rule id a refusal carries. */
export function describeIssue(issue: z.core.$ZodIssue): { field: string; rule: string; message: string } {
  const at = fieldPath(issue.path);
  switch (issue.code) {
    case 'custom': {
      const rule = (issue.params as { rule?: unknown } | undefined)?.rule;
      return { field: at, rule: typeof rule === 'string' ? rule : 'invalid', message: issue.message };
    }
    case 'unrecognized_keys': {
      const key = issue.keys[0] ?? '?';
      return { field: at === '(document)' ? key : `${at}.${key}`, rule: 'unknown-field', message: 'is not a policy field (refused rather than ignored; check its spelling)' };
    }
    case 'invalid_type':
      return /received undefined/.test(issue.message)
        ? { field: at, rule: 'field-required', message: 'is required' }
        : { field: at, rule: 'wrong-type', message: issue.message };
    case 'invalid_value':
      return { field: at, rule: 'value-not-allowed', message: issue.message };
    case 'invalid_format':
      return { field: at, rule: 'format-invalid', message: issue.message };
    default:
      return { field: at, rule: `schema-${issue.code}`, message: issue.message };
  }
}

/** ['issuers', 0, 'approvals', 'quorum'] → "issuers[0].approvals.quorum". */
export function fieldPath(path: readonly PropertyKey[]): string {
  const text = path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
  return text || '(document)';
}
