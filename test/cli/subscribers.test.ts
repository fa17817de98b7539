import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { generateChannelKey } from '../../agents/approvals/channel-keys.js';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { issuerWith, policyDoc } from '../../agents/planner/policy-fixtures.js';
import { bootstrapPolicy } from '../../agents/planner/policy-store.js';
import { recordDelivery } from '../../agents/revocation-responder/webhooks.js';
import { registerSubscribers } from '../../cli/commands/subscribers.js';
import { runCli } from '../support/cli.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';

const run = (...args: string[]) => runCli(registerSubscribers, ...args);

/** In a database of its own: every revocation run of the shared one would notify these subscribers. */
describe('keyturn subscribers', () => {
  let db: PolicyDb;
  beforeEach(async () => {
    db = await policyDatabase();
    process.env.DATABASE_URL = db.url;
  });
  afterEach(async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    await db.drop();
  });
  const actions = async () => (await db.app.query<{ action: string }>(`SELECT action FROM audit_log WHERE subject ->> 'subscriber' = 'billing' ORDER BY seq`)).rows.map((r) => r.action);

  it('add, disable and enable change who is told, each audited; list shows the url as its origin only', async () => {
    expect((await run('subscribers', 'add', 'billing', 'https://billing.example/hooks/s3cr3t-path?token=abc')).out).toMatch(/^subscriber billing \(https:\/\/billing\.example\/…\) gets every revocation notice/);
    expect((await run('subscribers', 'disable', 'billing')).out).toMatch(/gets no notice from now on/);
    const { out } = await run('subscribers', 'list');
    expect(out).toMatch(/^billing\s+https:\/\/billing\.example\/…\s+disabled/m);
    expect(out).not.toContain('s3cr3t');
    expect((await run('subscribers', 'list', '--json')).out).not.toContain('token=abc');
    await run('subscribers', 'enable', 'billing');
    expect(await actions()).toEqual(['revocation.subscriber.add', 'revocation.subscriber.disable', 'revocation.subscriber.enable']);
  });

  it('add reads the url from a 0600 --url-file, so a secret in it stays out of the process list', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kt-sub-'));
    const file = join(dir, 'billing.url');
    writeFileSync(file, 'https://billing.example/hooks/s3cr3t-path\n', { mode: 0o600 });
    try {
      expect((await run('subscribers', 'add', 'billing', '--url-file', file)).out).toMatch(/^subscriber billing \(https:\/\/billing\.example\/…\)/);
      const { rows } = await db.app.query<{ url: string }>(`SELECT url FROM revocation_subscribers WHERE id = 'billing'`);
      expect(rows[0]?.url).toBe('https://billing.example/hooks/s3cr3t-path');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('add refuses a --url-file readable by others, and a url given both ways, registering nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kt-sub-'));
    const file = join(dir, 'billing.url');
    writeFileSync(file, 'https://billing.example/hooks\n', { mode: 0o644 });
    try {
      await expect(run('subscribers', 'add', 'billing', '--url-file', file)).rejects.toMatchObject({ code: 'SECRET_FILE_PERMISSIONS' });
      await expect(run('subscribers', 'add', 'billing', 'https://billing.example/hooks', '--url-file', file)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect((await run('subscribers', 'list')).out).toBe('no subscribers\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a plain-http url to another machine, and one with credentials, registering nothing', async () => {
    for (const url of ['http://billing.example/hooks', 'https://user:pw@billing.example/hooks']) {
      await expect(run('subscribers', 'add', 'billing', url)).rejects.toMatchObject({ code: 'SUBSCRIBER_INVALID' });
    }
    expect((await run('subscribers', 'list')).out).toBe('no subscribers\n');
  });

  it('add refuses an IP address outside KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS, registering nothing, and accepts it once the network is allowed', async () => {
    const urls = ['https://169.254.169.254/latest/meta-data/', 'https://[::ffff:a00:1]/'];
    for (const url of urls) {
      await expect(run('subscribers', 'add', 'billing', url)).rejects.toMatchObject({ code: 'SUBSCRIBER_ADDRESS_REFUSED', hint: expect.stringContaining('KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS') });
    }
    expect((await run('subscribers', 'list')).out).toBe('no subscribers\n');
    const saved = process.env.KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS;
    try {
      process.env.KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS = '169.254.169.254/32,10.0.0.0/8';
      await run('subscribers', 'add', 'billing', urls[0]!);
      await run('subscribers', 'add', 'billing-internal', urls[1]!);
    } finally {
      if (saved === undefined) delete process.env.KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS;
      else process.env.KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS = saved;
    }
    expect((await run('subscribers', 'list')).out).toMatch(/^billing\s+https:\/\/169\.254\.169\.254\/…\s+enabled/m);
  });

  it('deliveries shows the latest attempts, oldest first, and refuses a count that is not one', async () => {
    await run('subscribers', 'add', 'billing', 'https://billing.example/hooks');
    await recordDelivery(db.app, { subscriberId: 'billing', noticeJti: 'revoke-kid-1:revocation.contained', event: 'revocation.contained', outcome: 'failed', error: 'delivery to https://billing.example failed: no answer within 5000 ms' });
    await recordDelivery(db.app, { subscriberId: 'billing', noticeJti: 'revoke-kid-1:revocation.contained', event: 'revocation.contained', outcome: 'delivered', httpStatus: 204 });
    const lines = (await run('subscribers', 'deliveries', 'billing')).out.trim().split('\n');
    expect(lines).toEqual([expect.stringMatching(/revocation\.contained .* failed .*no answer within 5000 ms$/), expect.stringMatching(/revocation\.contained .* delivered 204$/)]);
    await expect(run('subscribers', 'deliveries', 'billing', '-n', '0')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('add --issuers and set-issuers limit what a subscriber is told of, each audited; --all tells it of every issuer again', async () => {
    expect((await run('subscribers', 'add', 'billing', 'https://billing.example/hooks', '--issuers', 'https://a.example, https://b.example')).out).toMatch(/gets the revocations of https:\/\/a\.example, https:\/\/b\.example from now on/);
    expect((await run('subscribers', 'list')).out).toMatch(/^billing\s+\S+\s+enabled\s+https:\/\/a\.example,https:\/\/b\.example\s/m);
    expect((await run('subscribers', 'set-issuers', 'billing', '--all')).out).toMatch(/gets every revocation notice from now on/);
    await expect(run('subscribers', 'set-issuers', 'billing')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(run('subscribers', 'set-issuers', 'billing', 'https://a.example', '--all')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await actions()).toEqual(['revocation.subscriber.add', 'revocation.subscriber.issuers']);
  });

  it('refuses issuers none of which the policy in force names, registering nothing, and warns of some', async () => {
    await bootstrapPolicy(db.app, policyDoc(issuerWith()), appendAudit, { role: 'Orchestrator' });
    await expect(run('subscribers', 'add', 'billing', 'https://billing.example/hooks', '--issuers', 'https://auth.example.test/')).rejects.toMatchObject({ code: 'SUBSCRIBER_INVALID' });
    expect((await run('subscribers', 'list')).out).toBe('no subscribers\n');
    const { err } = await run('subscribers', 'add', 'billing', 'https://billing.example/hooks', '--issuers', 'https://auth.example.test,https://later.example.test');
    expect(err).toMatch(/has no issuer https:\/\/later\.example\.test/);
  });

  it('refuses an issuer that is not an http(s) url or carries a control character', async () => {
    for (const issuer of ['javascript:alert(1)', 'https://auth.example.test\u001b[2J']) {
      await expect(run('subscribers', 'add', 'billing', 'https://billing.example/hooks', '--issuers', issuer)).rejects.toMatchObject({ code: 'SUBSCRIBER_INVALID' });
    }
  });

  it('list counts the notices each subscriber is still owed', async () => {
    await run('subscribers', 'add', 'billing', 'https://billing.example/hooks');
    for (const jti of ['revoke-kid-1:revocation.contained', 'revoke-kid-1:revocation.confirmed']) {
      await db.app.query(`INSERT INTO revocation_notices (notice_jti, subscriber_id, event, kind, value, issuer, revoked_at, seq) VALUES ($1, 'billing', $2, 'kid', 'k1', 'https://issuer.test', now(), 1)`, [jti, jti.split(':')[1]]);
    }
    await recordDelivery(db.app, { subscriberId: 'billing', noticeJti: 'revoke-kid-1:revocation.contained', event: 'revocation.contained', outcome: 'delivered', httpStatus: 204 });

    expect((await run('subscribers', 'list')).out).toMatch(/^SUBSCRIBER\s+URL\s+STATUS\s+ISSUERS\s+OWED\s+SINCE\nbilling\s+https:\/\/billing\.example\/…\s+enabled\s+all\s+1\s/);
    expect(JSON.parse((await run('subscribers', 'list', '--json')).out)).toEqual([expect.objectContaining({ id: 'billing', owed: 1 })]);
  });

  it('key prints the notice public key as a JWKS, never the private key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyturn-notice-'));
    const saved = process.env.KEYTURN_REVOCATION_KEY_FILE;
    try {
      const { privateJwk } = await generateChannelKey();
      const file = join(dir, 'notice.jwk');
      writeFileSync(file, JSON.stringify(privateJwk), { mode: 0o600 });
      process.env.KEYTURN_REVOCATION_KEY_FILE = file;
      const { out } = await run('subscribers', 'key');
      const jwks = JSON.parse(out) as { keys: Array<Record<string, unknown>> };
      expect(jwks.keys).toEqual([expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', x: privateJwk.x, use: 'sig', alg: 'EdDSA' })]);
      expect(out).not.toContain(String(privateJwk.d));
    } finally {
      if (saved === undefined) delete process.env.KEYTURN_REVOCATION_KEY_FILE;
      else process.env.KEYTURN_REVOCATION_KEY_FILE = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
