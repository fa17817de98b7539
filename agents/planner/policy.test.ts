import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { parsePolicy } from './policy.js';

const base = readFileSync(new URL('../../policy.md', import.meta.url), 'utf8');
const production = readFileSync(new URL('../../examples/policy.production.md', import.meta.url), 'utf8');

/** The dev policy with one YAML line replaced. */
function withLine(from: RegExp, to: string): string {
  if (!from.test(base)) throw new Error(`test setup: ${from} not in policy.md`);
  return base.replace(from, to);
}

function refusal(text: string): { field: unknown; rule: unknown } {
  try {
    parsePolicy(text);
  } catch (e) {
    if (isKeyturnError(e)) return { field: e.details?.field, rule: e.details?.rule };
    throw e;
  }
  throw new Error('policy was accepted');
}

describe('policy document', () => {
  it('parses the shipped development policy with durations in seconds', () => {
    const p = parsePolicy(base).issuers[0]!;
    expect(p).toMatchObject({ issuer: 'http://localhost:8080', algorithm: 'RS256', accessTokenTtlSeconds: 600, clockSkewSeconds: 60, prePublishLeadSeconds: 120, postRetireOverlapSeconds: 900 });
    expect(p.approvals.channels).toContain('cli');
  });

  it('parses the production example, which does not allow the cli channel', () => {
    expect(parsePolicy(production).issuers[0]!.approvals.channels).toEqual(['slack']);
  });

  it('versions the policy by the sha256 of its exact bytes', () => {
    expect(parsePolicy(base).version).toMatch(/^[0-9a-f]{64}$/);
    expect(parsePolicy(`${base}\n`).version).not.toBe(parsePolicy(base).version);
  });

  it('refuses an overlap shorter than the token TTL plus skew', () => {
    expect(refusal(withLine(/postRetireOverlap: 15m/, 'postRetireOverlap: 10m'))).toEqual({ field: 'issuers[0].postRetireOverlap', rule: 'overlap-shorter-than-token-lifetime' });
  });

  it('refuses a pre-publication lead shorter than the JWKS max-age', () => {
    expect(refusal(withLine(/prePublishLead: 2m/, 'prePublishLead: 30s'))).toEqual({ field: 'issuers[0].prePublishLead', rule: 'lead-shorter-than-jwks-max-age' });
  });

  it('refuses an RSA key under 2048 bits', () => {
    expect(refusal(withLine(/rsaModulusLength: 2048/, 'rsaModulusLength: 1024'))).toEqual({ field: 'issuers[0].rsaModulusLength', rule: 'rsa-too-small' });
  });

  for (const alg of ['none', 'None', 'HS256', 'HS384', 'HS512', 'RS384']) {
    it(`refuses the algorithm ${alg}`, () => {
      expect(refusal(withLine(/algorithm: RS256/, `algorithm: ${alg}`))).toEqual({ field: 'issuers[0].algorithm', rule: 'algorithm-forbidden' });
    });
  }

  it('refuses a quorum larger than the number of approvers', () => {
    expect(refusal(withLine(/quorum: 1/, 'quorum: 4'))).toEqual({ field: 'issuers[0].approvals.quorum', rule: 'quorum-unreachable' });
  });

  it('refuses a plain-http issuer that is not localhost', () => {
    expect(refusal(withLine(/issuer: http:\/\/localhost:8080/, 'issuer: http://auth.example.com'))).toEqual({ field: 'issuers[0].issuer', rule: 'issuer-not-https' });
  });

  it('refuses an unparsable duration, naming the field', () => {
    expect(refusal(withLine(/accessTokenTtl: 10m/, 'accessTokenTtl: ten minutes'))).toEqual({ field: 'issuers[0].accessTokenTtl', rule: 'duration-unparsable' });
  });

  it('refuses a maximum token age shorter than the TTL', () => {
    expect(refusal(withLine(/clockSkew: 60s/, 'clockSkew: 60s\n    maxTokenAge: 5m'))).toEqual({ field: 'issuers[0].maxTokenAge', rule: 'max-age-shorter-than-ttl' });
  });

  it('refuses an empty audience list', () => {
    expect(refusal(withLine(/audiences: \[https:\/\/api.example.test\]/, 'audiences: []')).field).toBe('issuers[0].audiences');
  });

  it('refuses unknown fields instead of ignoring them', () => {
    expect(refusal(withLine(/clockSkew: 60s/, 'clockSkew: 60s\n    allowNone: true')).field).toBe('issuers[0]');
  });

  it('refuses a document without exactly one yaml block', () => {
    expect(() => parsePolicy('# no policy here')).toThrow(expect.objectContaining({ code: 'POLICY_NO_YAML_BLOCK' }));
  });
});
