import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const keyturn = (...args: string[]) => spawnSync(process.execPath, ['bin/keyturn.mjs', ...args], { encoding: 'utf8', env: { ...process.env, KEYTURN_DATA_DIR: mkdtempSync(join(tmpdir(), 'kt-cli-')) } });

describe('keyturn policy check', () => {
  it('prints the effective policy of a valid document', () => {
    const r = keyturn('policy', 'check', 'policy.md');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^policy version [0-9a-f]{64}/);
    expect(r.stdout).toContain('lead / overlap     2m / 15m');
  });

  it('warns about CLI approvers not linked to a Slack id when both channels are open, naming them', () => {
    const r = keyturn('policy', 'check', 'policy.md');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('cli:dev-second is not linked to a Slack id under approvals.people');
    expect(r.stderr).not.toContain('cli:dev-lead');
  });

  it('warns when an issuer takes unsigned starts, and not when it requires signed ones', () => {
    expect(keyturn('policy', 'check', 'policy.md').stderr).toContain('http://localhost:8080 takes unsigned starts');
    const production = keyturn('policy', 'check', 'examples/policy.production.md');
    expect([production.status, production.stderr]).toEqual([0, '']);
  });

  it('warns when issuers share no approval channel, so a whole-policy change or a joint revocation could never be signed off', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kt-policy-'));
    const file = join(dir, 'policy.md');
    const issuer = (url: string, approvals: string) => `  - issuer: ${url}\n    audiences: [x]\n    algorithm: ES256\n    prePublishLead: 10m\n    postRetireOverlap: 1h\n    approvals: ${approvals}\n`;
    writeFileSync(file, `\`\`\`yaml\nissuers:\n${issuer('https://a.example', '{ approvers: [U0AAA], channels: [slack], requireSignedStart: true }')}${issuer('https://b.example', '{ approvers: ["cli:bob"], channels: [cli], requireSignedStart: true }')}\`\`\`\n`);
    const r = keyturn('policy', 'check', file);
    expect(r.status).toBe(0);
    const warnings = r.stderr.trim().split('\n');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('warning: a change to the whole policy (adding, removing or reordering issuers) could never be signed off');
    expect(warnings[1]).toContain('a jti or sub revocation with live tokens at both https://a.example and https://b.example could never be signed off');
  });

  it('refuses an unsafe document with one line naming the field and rule, and a non-zero exit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kt-policy-'));
    const file = join(dir, 'policy.md');
    writeFileSync(file, '```yaml\nissuers:\n  - issuer: https://a.example\n    audiences: [x]\n    algorithm: HS256\n    prePublishLead: 1h\n    postRetireOverlap: 1h\n    approvals: { approvers: [U0AAA] }\n```\n');
    const r = keyturn('policy', 'check', file);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('issuers[0].algorithm');
    expect(r.stderr).toContain('algorithm-forbidden');
  });
});
