import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { effectivePolicyText, parsePolicy } from './policy.js';
import { baseIssuer, issuerWith, policyDoc } from './policy-fixtures.js';

const devPolicy = readFileSync(new URL('../../policy.md', import.meta.url), 'utf8');
const productionPolicy = readFileSync(new URL('../../examples/policy.production.md', import.meta.url), 'utf8');

interface Refusal { code: string; field: unknown; rule: unknown; message: string }

function refusalOf(text: string): Refusal {
  try {
    parsePolicy(text);
  } catch (e) {
    if (isKeyturnError(e)) return { code: e.code, field: e.details?.field, rule: e.details?.rule, message: e.message };
    throw e;
  }
  throw new Error('the policy was accepted');
}

/** The field and rule of the refusal of the base issuer with `over` applied. */
function refused(over: Record<string, unknown>): { field: unknown; rule: unknown } {
  const { field, rule } = refusalOf(policyDoc(issuerWith(over)));
  return { field, rule };
}

const accepts = (over: Record<string, unknown>) => parsePolicy(policyDoc(issuerWith(over))).issuers[0]!;

describe('the policy document', () => {
  it('reads the one yaml block and ignores the prose around it', () => {
    expect(parsePolicy(policyDoc(baseIssuer)).issuers.map((i) => i.issuer)).toEqual(['https://auth.example.test']);
  });

  it('accepts a ```yml fence with CRLF line endings', () => {
    const crlf = policyDoc(baseIssuer).replace('```yaml', '```yml').replace(/\n/g, '\r\n');
    expect(parsePolicy(crlf).issuers).toHaveLength(1);
  });

  it('refuses a document without a yaml block', () => {
    expect(refusalOf('# policy\n\nno machine-readable part').code).toBe('POLICY_NO_YAML_BLOCK');
  });

  it('refuses a document with two yaml blocks', () => {
    expect(refusalOf(`${policyDoc(baseIssuer)}\n${policyDoc(baseIssuer)}`)).toMatchObject({ code: 'POLICY_INVALID', rule: 'yaml-block-ambiguous' });
  });

  it('refuses yaml that does not parse', () => {
    expect(refusalOf('```yaml\nissuers: [\n```\n')).toMatchObject({ code: 'POLICY_INVALID', field: '(yaml)', rule: 'yaml-unparsable' });
  });

  it('refuses a key given twice', () => {
    const doubled = policyDoc(baseIssuer).replace('jwksMaxAge: 5m', 'jwksMaxAge: 5m\n    jwksMaxAge: 1h');
    expect(refusalOf(doubled).rule).toBe('yaml-unparsable');
  });

  it('is versioned by the sha256 of its exact bytes', () => {
    expect(parsePolicy(devPolicy).version).toBe(createHash('sha256').update(Buffer.from(devPolicy, 'utf8')).digest('hex'));
  });

  it('gets a new version when only the prose changes', () => {
    expect(parsePolicy(devPolicy.replace('# keyturn policy', '# Keyturn policy')).version).not.toBe(parsePolicy(devPolicy).version);
  });
});

describe('defaults', () => {
  it('fills in the documented defaults for unset fields', () => {
    const p = parsePolicy(policyDoc(baseIssuer)).issuers[0]!;
    expect(p).toMatchObject({ algorithm: 'RS256', rsaModulusLength: 2048, accessTokenTtlSeconds: 600, clockSkewSeconds: 60, revocationFreshnessSeconds: 30 });
    expect(p.approvals).toMatchObject({ quorum: 1, channels: ['slack'] });
  });

  it('defaults the maximum token age to the TTL plus the clock skew', () => {
    expect(accepts({ accessTokenTtl: '5m', clockSkew: '30s' }).maxTokenAgeSeconds).toBe(330);
  });

  it('converts every duration to whole seconds', () => {
    expect(accepts({ rotationPeriod: '30d', revocationFreshness: '45s' })).toMatchObject({ rotationPeriodSeconds: 30 * 86_400, revocationFreshnessSeconds: 45, prePublishLeadSeconds: 600 });
  });
});

describe('the shipped policies', () => {
  it('parses the development policy: localhost issuer, cli channel, short durations', () => {
    const p = parsePolicy(devPolicy).issuers[0]!;
    expect(p).toMatchObject({ issuer: 'http://localhost:8080', audiences: ['https://api.example.test'], algorithm: 'RS256', prePublishLeadSeconds: 120, jwksMaxAgeSeconds: 60, postRetireOverlapSeconds: 900, accessTokenTtlSeconds: 600, clockSkewSeconds: 60 });
    expect(p.approvals).toMatchObject({ channels: ['slack', 'cli'], timeoutSeconds: 3600, escalationIntervalSeconds: 900 });
    expect(p.approvals.approvers).toContain('cli:dev-lead');
  });

  it('parses the production example: https, Slack only, two approvers, 90-day rotation', () => {
    const p = parsePolicy(productionPolicy).issuers[0]!;
    expect(p.issuer).toMatch(/^https:\/\//);
    expect(p.approvals).toMatchObject({ channels: ['slack'], quorum: 2, requireSignedStart: true });
    expect(p).toMatchObject({ prePublishLeadSeconds: 3600, jwksMaxAgeSeconds: 900, rotationPeriodSeconds: 90 * 86_400 });
  });
});

describe('requireSignedStart', () => {
  const approvals = (extra: Record<string, unknown>) => ({ ...(baseIssuer.approvals as Record<string, unknown>), ...extra });

  it('is off unless the policy says true, and then absent from the parsed approvals', () => {
    expect(accepts({}).approvals).not.toHaveProperty('requireSignedStart');
    expect(accepts({ approvals: approvals({ requireSignedStart: false }) }).approvals).not.toHaveProperty('requireSignedStart');
  });

  it('is on when the policy says true', () => {
    expect(accepts({ approvals: approvals({ requireSignedStart: true }) }).approvals.requireSignedStart).toBe(true);
  });

  it('is refused when it is not a boolean, rather than read as on or off', () => {
    expect(refused({ approvals: approvals({ requireSignedStart: 'yes please' }) })).toEqual({ field: 'issuers[0].approvals.requireSignedStart', rule: 'wrong-type' });
  });
});

describe('refusals', () => {
  it('name the field path and the rule in the message', () => {
    const { message } = refusalOf(policyDoc(issuerWith({ postRetireOverlap: '10m' })));
    expect(message).toContain('issuers[0].postRetireOverlap');
    expect(message).toContain('overlap-shorter-than-token-lifetime');
  });

  it('carry the code POLICY_INVALID', () => {
    expect(refusalOf(policyDoc(issuerWith({ postRetireOverlap: '10m' }))).code).toBe('POLICY_INVALID');
  });

  it('refuse an overlap shorter than the max token age plus skew', () => {
    expect(refused({ postRetireOverlap: '11m' })).toEqual({ field: 'issuers[0].postRetireOverlap', rule: 'overlap-shorter-than-token-lifetime' });
  });

  it('accept an overlap of exactly the max token age plus skew', () => {
    expect(accepts({ postRetireOverlap: '12m' }).postRetireOverlapSeconds).toBe(720);
  });

  it('measure the overlap against a max token age longer than the TTL', () => {
    expect(refused({ maxTokenAge: '30m', postRetireOverlap: '20m' }).rule).toBe('overlap-shorter-than-token-lifetime');
  });

  it('refuse a pre-publication lead shorter than the JWKS max-age', () => {
    expect(refused({ prePublishLead: '4m' })).toEqual({ field: 'issuers[0].prePublishLead', rule: 'lead-shorter-than-jwks-max-age' });
  });

  it('accept a lead of exactly the JWKS max-age', () => {
    expect(accepts({ prePublishLead: '5m' }).prePublishLeadSeconds).toBe(300);
  });

  it('refuse an RSA key under 2048 bits', () => {
    expect(refused({ rsaModulusLength: 1024 })).toEqual({ field: 'issuers[0].rsaModulusLength', rule: 'rsa-too-small' });
  });

  it('refuse a small RSA key for PS256 too', () => {
    expect(refused({ algorithm: 'PS256', rsaModulusLength: 2047 }).rule).toBe('rsa-too-small');
  });

  it('ignore the RSA size for ES256', () => {
    expect(accepts({ algorithm: 'ES256', rsaModulusLength: 1024 }).algorithm).toBe('ES256');
  });

  for (const alg of ['none', 'None', 'NONE', 'HS256', 'HS384', 'HS512', 'RS384', 'ES512', 'rs256']) {
    it(`refuse the algorithm ${alg}`, () => {
      expect(refused({ algorithm: alg })).toEqual({ field: 'issuers[0].algorithm', rule: 'algorithm-forbidden' });
    });
  }

  for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA']) {
    it(`accept the algorithm ${alg}`, () => expect(accepts({ algorithm: alg }).algorithm).toBe(alg));
  }

  it('refuse a quorum larger than the number of approvers', () => {
    expect(refused({ approvals: { quorum: 3 } })).toEqual({ field: 'issuers[0].approvals.quorum', rule: 'quorum-unreachable' });
  });

  it('count an approver listed twice once towards the quorum', () => {
    expect(refused({ approvals: { approvers: ['U0LEAD1', 'U0LEAD1'], quorum: 2 } }).rule).toBe('quorum-unreachable');
  });

  it('count cli approvers only when the cli channel is enabled', () => {
    expect(refused({ approvals: { approvers: ['U0LEAD1', 'cli:bob'], quorum: 2, channels: ['slack'] } }).rule).toBe('quorum-unreachable');
  });

  it('count a person listed under two ids once towards the quorum', () => {
    expect(refused({ approvals: { approvers: ['U0LEAD1', 'cli:lead'], people: [['cli:lead', 'U0LEAD1']], quorum: 2, channels: ['slack', 'cli'] } }).rule).toBe('quorum-unreachable');
  });

  it('refuse an id given to two people', () => {
    expect(refused({ approvals: { approvers: ['U0LEAD1', 'cli:lead', 'U0LEAD2'], people: [['cli:lead', 'U0LEAD1'], ['U0LEAD2', 'cli:lead']], channels: ['slack', 'cli'] } })).toEqual({ field: 'issuers[0].approvals.people[1]', rule: 'person-listed-twice' });
  });

  it('refuse a user group as one of a person\'s ids', () => {
    expect(refused({ approvals: { people: [['cli:lead', 'S0LEADS']] } }).field).toMatch(/^issuers\[0\]\.approvals\.people/);
  });

  it('refuse a quorum of zero', () => {
    expect(refused({ approvals: { quorum: 0 } }).rule).toBe('quorum-not-positive');
  });

  it('refuse an empty approver list', () => {
    expect(refused({ approvals: { approvers: [] } })).toEqual({ field: 'issuers[0].approvals.approvers', rule: 'approvers-empty' });
  });

  it('refuse an approver that is neither a Slack id nor cli:<name>', () => {
    expect(refused({ approvals: { approvers: ['alice@example.com'] } }).field).toBe('issuers[0].approvals.approvers[0]');
  });

  it('refuse an unknown approval channel', () => {
    expect(refused({ approvals: { channels: ['email'] } })).toEqual({ field: 'issuers[0].approvals.channels[0]', rule: 'value-not-allowed' });
  });

  it('refuse a plain-http issuer that is not localhost', () => {
    expect(refused({ issuer: 'http://auth.example.com' })).toEqual({ field: 'issuers[0].issuer', rule: 'issuer-not-https' });
  });

  it('accept plain http for localhost', () => expect(accepts({ issuer: 'http://localhost:8080' }).issuer).toBe('http://localhost:8080'));

  it('accept plain http for 127.0.0.1', () => expect(accepts({ issuer: 'http://127.0.0.1:9000' }).issuer).toBe('http://127.0.0.1:9000'));

  it('refuse an issuer that is not a URL', () => {
    expect(refused({ issuer: 'auth.example.com' })).toEqual({ field: 'issuers[0].issuer', rule: 'issuer-not-url' });
  });

  it('refuse an issuer listed twice', () => {
    expect(refusalOf(policyDoc(baseIssuer, issuerWith({ audiences: ['other'] })))).toMatchObject({ field: 'issuers[1].issuer', rule: 'issuer-duplicate' });
  });

  it('refuse two issuers that differ only in case or punctuation: their runs and schedules would share one name', () => {
    const a = issuerWith({ issuer: 'https://auth.example.test/tenant_a' });
    const b = issuerWith({ issuer: 'https://auth.example.test/tenant/a' });
    expect(refusalOf(policyDoc(a, b))).toMatchObject({ field: 'issuers[1].issuer', rule: 'issuer-slug-collision' });
  });

  it('refuse a policy with no issuers', () => {
    expect(refusalOf('```yaml\nissuers: []\n```\n')).toMatchObject({ field: 'issuers', rule: 'issuers-empty' });
  });

  for (const value of ['ten minutes', '10', '10 m', '1.5h']) {
    it(`refuse the duration ${JSON.stringify(value)}, naming the field`, () => {
      expect(refused({ accessTokenTtl: value })).toEqual({ field: 'issuers[0].accessTokenTtl', rule: 'duration-unparsable' });
    });
  }

  it('refuse a bare number as a duration', () => {
    expect(refused({ approvals: { timeout: 3600 } })).toEqual({ field: 'issuers[0].approvals.timeout', rule: 'duration-unparsable' });
  });

  it('refuse a missing required duration', () => {
    expect(refused({ prePublishLead: undefined })).toEqual({ field: 'issuers[0].prePublishLead', rule: 'field-required' });
  });

  it('refuse an empty audience list', () => {
    expect(refused({ audiences: [] })).toEqual({ field: 'issuers[0].audiences', rule: 'audiences-empty' });
  });

  it("refuse the canaries' own audience, so a canary read from a run's history stays useless to every relying party", () => {
    expect(refused({ audiences: ['https://api.example', 'keyturn:canary'] })).toEqual({ field: 'issuers[0].audiences', rule: 'audience-reserved' });
  });

  it('refuse a max token age shorter than the TTL', () => {
    expect(refused({ maxTokenAge: '5m' })).toEqual({ field: 'issuers[0].maxTokenAge', rule: 'max-age-shorter-than-ttl' });
  });

  it('refuse a zero TTL', () => {
    expect(refused({ accessTokenTtl: '0s' })).toEqual({ field: 'issuers[0].accessTokenTtl', rule: 'ttl-not-positive' });
  });

  it('refuse a rotation period shorter than one rotation', () => {
    expect(refused({ rotationPeriod: '20m' })).toEqual({ field: 'issuers[0].rotationPeriod', rule: 'rotation-period-too-short' });
  });

  it('refuse an unknown field instead of ignoring it', () => {
    expect(refused({ allowNone: true })).toEqual({ field: 'issuers[0].allowNone', rule: 'unknown-field' });
  });

  it('name a misspelt field rather than the one it hides', () => {
    expect(refused({ postRetireOverlap: undefined, postRetireOverlapp: '15m' }).field).toBe('issuers[0].postRetireOverlapp');
  });

  it('refuse a value of the wrong type', () => {
    expect(refused({ rsaModulusLength: '2048' })).toEqual({ field: 'issuers[0].rsaModulusLength', rule: 'wrong-type' });
  });
});

describe('effectivePolicyText', () => {
  const text = effectivePolicyText(parsePolicy(devPolicy));

  it('starts with the policy version', () => expect(text.split('\n')[0]).toBe(`policy version ${parsePolicy(devPolicy).version}`));
  it('names each issuer', () => expect(text).toContain('issuer http://localhost:8080'));
  it('writes durations in human units', () => expect(text).toContain('lead / overlap     2m / 15m'));
  it('shows defaults it filled in', () => expect(text).toContain('max age 11m'));
  it('shows the approval rule', () => expect(text).toContain('1 of cli:dev-lead, cli:dev-second, U0DEVLEAD1 via slack, cli'));
});
