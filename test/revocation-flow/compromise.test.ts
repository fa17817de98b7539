import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createInterface, type Interface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../agents/approvals/notifier.js';
import { addSubscriber, setSubscriberDisabled, verifyRevocationNotice } from '../../agents/revocation-responder/index.js';
import { startRevocation } from '../../client/revocations.js';
import { stopChild } from '../../infra/process.js';
import { jwksUrlFor } from '../../workers/bootstrap.js';
import type { RevocationResult } from '../../workflows/revocation.js';
import { kidOf, seedActiveKey, sleep } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/** A relying party in its own process (test/revocation-flow/validator-process.ts). */
class RelyingParty {
  private readonly lines: Interface;
  private readonly waiting: Array<(line: string) => void> = [];
  readonly ready: Promise<void>;
  constructor(readonly child: ChildProcess) {
    this.lines = createInterface({ input: child.stdout! });
    this.lines.on('line', (l) => this.waiting.shift()?.(l));
    this.ready = new Promise((r) => this.waiting.push(() => r()));
  }
  static start(stack: RotationStack, databaseUrl = stack.databaseUrl): RelyingParty {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/revocation-flow/validator-process.ts'], {
      env: { ...process.env, DATABASE_URL: databaseUrl, ISSUER: stack.issuer, AUDIENCE: stack.audience, ALG: stack.policy.issuers[0]!.algorithm, JWKS_URI: jwksUrlFor(stack.httpUrl)(stack.issuer), FRESHNESS_SECONDS: '3' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    return new RelyingParty(child);
  }
  async verify(token: string): Promise<string> {
    const answer = new Promise<string>((r) => this.waiting.push(r));
    this.child.stdin!.write(`${token}\n`);
    const parsed = JSON.parse(await answer) as { ok?: boolean; code?: string };
    return parsed.ok ? 'ok' : parsed.code!;
  }
  /** Polls until the answer satisfies `want` (propagation is measured by the bench, not asserted here). */
  async eventually(token: string, want: (code: string) => boolean): Promise<string> {
    let code = '';
    for (let i = 0; i < 100; i++) {
      code = await this.verify(token);
      if (want(code)) return code;
      await sleep(100);
    }
    return code;
  }
  stop() {
    return stopChild(this.child, 3_000);
  }
}

/** A downstream service that accepts revocation notices. */
async function startSubscriber(): Promise<{ url: string; bodies: string[]; close(): Promise<void> }> {
  const bodies: string[] = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/revocations`, bodies, close: () => new Promise((r) => server.close(() => r())) };
}

const refusedForKey = (code: string) => ['REVOKED_KID', 'REVOKED_JTI', 'KID_UNKNOWN'].includes(code);

describe('key compromise: contain, revoke on sign-off, reach three validator processes', () => {
  let stack: RotationStack;
  let parties: RelyingParty[] = [];
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'compromise', issuer: { accessTokenTtl: '60s', postRetireOverlap: '62s' } });
    await seedActiveKey(stack);
    parties = [0, 1, 2].map(() => RelyingParty.start(stack));
    await Promise.all(parties.map((p) => p.ready));
  });
  afterAll(async () => {
    await Promise.all(parties.map((p) => p.stop()));
    await stack?.stop();
  });
  const revoke = (kid: string, reason: string) => startRevocation(stack.client, { kind: 'kid', value: kid, reason, requester: 'cli:requester', taskQueue: stack.taskQueue });
  const introspect = async (token: string) => {
    const c = stack.oauthClient;
    const res = await fetch(`${stack.httpUrl}/oauth2/introspect`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${c.clientId}:${c.secret}`).toString('base64')}` }, body: new URLSearchParams({ token }).toString() });
    return ((await res.json()) as { active: boolean }).active;
  };

  it('contains before the approval, then after it every validator refuses the old tokens and accepts new ones from the new key', async () => {
    const subscriber = await startSubscriber();
    const admin = { appendAudit: stack.services.appendAudit, actor: { role: 'Human' as const, cliUser: 'cli:admin' }, policyVersion: stack.policy.version };
    const { id: subscriberId } = await addSubscriber(stack.pool, { id: `rp-${Date.now()}`, url: subscriber.url }, admin);
    // Two more, told nothing of this revocation: one limited to another issuer, one disabled.
    const bystander = await startSubscriber();
    const { id: otherIssuers } = await addSubscriber(stack.pool, { id: `rp-other-${Date.now()}`, url: bystander.url, issuers: ['https://other-tenant.example'] }, admin);
    const { id: disabledId } = await addSubscriber(stack.pool, { id: `rp-off-${Date.now()}`, url: bystander.url }, admin);
    await setSubscriberDisabled(stack.pool, disabledId, true, admin);
    const token = await stack.token();
    const compromised = kidOf(token);
    expect(await Promise.all(parties.map((p) => p.verify(token)))).toEqual(['ok', 'ok', 'ok']);

    const handle = await revoke(compromised, 'private key pasted in a CI log');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    // Contained already: issuance halted, the kid deny-listed, no approval yet.
    await expect(stack.token()).rejects.toThrow(/503/);
    const { rows } = await stack.pool.query<{ action: string }>(`SELECT action FROM audit_log WHERE actor ->> 'workflowId' = $1 ORDER BY seq`, [handle.workflowId]);
    expect(rows.map((r) => r.action)).toContain('revocation.contained');
    expect(rows.map((r) => r.action).filter((a) => a.startsWith('approval.'))).toEqual([]);
    expect(await parties[0]!.eventually(token, refusedForKey)).toBe('REVOKED_KID');

    await stack.decide(handle, 'approve', 'cli:alice');
    const r = (await handle.result()) as RevocationResult;
    expect(r).toMatchObject({ outcome: 'revoked', refusedWith: expect.stringMatching(/REVOKED_KID|REVOKED_JTI|KID_UNKNOWN/) });
    expect(r.deniedTokens).toBeGreaterThanOrEqual(1);
    // The one limited to another issuer is counted as skipped, not delivered, for each of the two
    // events; a disabled one is not listed at all. Other files' subscribers may add to both counts.
    expect(r.notices?.skipped).toBeGreaterThanOrEqual(2);
    expect(r.notices?.delivered).toBeGreaterThanOrEqual(2);

    for (const p of parties) expect(refusedForKey(await p.eventually(token, refusedForKey))).toBe(true);
    expect(await introspect(token)).toBe(false);
    expect(await stack.jwksKids()).not.toContain(compromised);

    const fresh = await stack.token();
    expect(kidOf(fresh)).toBe(r.newKid);
    for (const p of parties) expect(await p.eventually(fresh, (c) => c === 'ok')).toBe('ok');

    // Downstream subscribers got signed notices they can verify with keyturn's notice key.
    const publicKey = (await stack.services.noticeSigner()).publicJwk;
    const notices = await Promise.all(subscriber.bodies.map(async (b) => (await verifyRevocationNotice(b, publicKey, { audience: subscriberId })).notice));
    expect(notices.map((n) => [n.event, n.kind, n.value])).toEqual(expect.arrayContaining([['revocation.contained', 'kid', compromised], ['revocation.confirmed', 'kid', compromised]]));
    // Ordered as the changes committed: the containment's audit entry before the confirmation's.
    const seqOf = (event: string) => notices.find((n) => n.event === event)!.seq;
    expect(seqOf('revocation.contained')).toBeLessThan(seqOf('revocation.confirmed'));
    const audited = await stack.pool.query<{ seq: string }>(`SELECT seq::text AS seq FROM audit_log WHERE action = 'revocation.confirmed' AND actor ->> 'workflowId' = $1 ORDER BY seq DESC LIMIT 1`, [handle.workflowId]);
    expect(seqOf('revocation.confirmed')).toBe(Number(audited.rows[0]!.seq));
    expect(bystander.bodies).toEqual([]);
    await setSubscriberDisabled(stack.pool, subscriberId, true, admin);
    await setSubscriberDisabled(stack.pool, otherIssuers, true, admin);
    await bystander.close();
    await subscriber.close();
  });

  it('a false alarm lifts the containment and issuance resumes with the same key', async () => {
    const active = kidOf(await stack.token());
    const handle = await revoke(active, 'suspicious login, probably nothing');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await expect(stack.token()).rejects.toThrow(/503/);
    await stack.decide(handle, 'reject', 'cli:bob', 'false alarm: it was the pentest');
    expect(await handle.result()).toMatchObject({ outcome: 'false_alarm', reason: 'false alarm: it was the pentest' });
    const again = await stack.token();
    expect(kidOf(again)).toBe(active);
    expect(await parties[1]!.eventually(again, (c) => c === 'ok')).toBe('ok');
  });
});

describe('token and subject revocation through the same gate', () => {
  let stack: RotationStack;
  let party: RelyingParty;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'tokenrevoke', issuer: { accessTokenTtl: '60s', postRetireOverlap: '62s' } });
    await seedActiveKey(stack);
    party = RelyingParty.start(stack);
    await party.ready;
  });
  afterAll(async () => {
    await party?.stop();
    await stack?.stop();
  });
  const jtiOf = (t: string) => (JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
  const entry = async (kind: string, value: string) =>
    (await stack.pool.query<{ temporary: boolean }>('SELECT temporary FROM revocations WHERE kind = $1 AND value = $2', [kind, value])).rows[0];

  it('a jti is deny-listed temporarily at once and permanently on approval', async () => {
    const token = await stack.token();
    const handle = await startRevocation(stack.client, { kind: 'jti', value: jtiOf(token), issuer: stack.issuer, reason: 'token leaked in a ticket', requester: 'cli:requester', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect(await entry('jti', jtiOf(token))).toEqual({ temporary: true });
    expect(await party.eventually(token, (c) => c === 'REVOKED_JTI')).toBe('REVOKED_JTI');
    await stack.decide(handle, 'approve', 'cli:alice');
    expect(await handle.result()).toMatchObject({ outcome: 'revoked' });
    expect(await entry('jti', jtiOf(token))).toEqual({ temporary: false });
  });

  it('a revocation run forgets deny-list entries that expired', async () => {
    const expired = `expired-${Date.now()}`;
    await stack.pool.query(`INSERT INTO revocations (kind, value, expires_at, temporary, reason) VALUES ('jti', $1, now() - interval '1 second', false, 'test')`, [expired]);
    const handle = await startRevocation(stack.client, { kind: 'jti', value: `jti-${Date.now()}`, issuer: stack.issuer, reason: 'housekeeping check', requester: 'cli:requester', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect(await entry('jti', expired)).toBeUndefined();
    await stack.decide(handle, 'reject', 'cli:alice', 'test done');
    expect(await handle.result()).toMatchObject({ outcome: 'false_alarm' });
  });

  it('a jti revocation for an issuer outside the policy fails with the reason and deny-lists nothing', async () => {
    const handle = await startRevocation(stack.client, { kind: 'jti', value: 'jti-of-another-issuer', issuer: 'https://not-in-the-policy.example', reason: 'wrong issuer', requester: 'cli:requester', taskQueue: stack.taskQueue });
    expect(await handle.result()).toMatchObject({ outcome: 'failed', reason: 'planning or containment refused: the policy has no issuer https://not-in-the-policy.example' });
    expect(await entry('jti', 'jti-of-another-issuer')).toBeUndefined();
  });

  it("a client's tokens are suspended at once and the suspension is lifted on rejection", async () => {
    const token = await stack.token();
    const handle = await startRevocation(stack.client, { kind: 'sub', value: stack.oauthClient.clientId, issuer: stack.issuer, reason: 'client misbehaving?', requester: 'cli:requester', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect(await party.eventually(token, (c) => c === 'REVOKED_SUB')).toBe('REVOKED_SUB');
    await stack.decide(handle, 'reject', 'cli:bob', 'expected traffic');
    expect(await handle.result()).toMatchObject({ outcome: 'false_alarm' });
    expect(await entry('sub', stack.oauthClient.clientId)).toBeUndefined();
    expect(await party.eventually(token, (c) => c === 'ok')).toBe('ok');
  });
});

describe('an unanswered compromise', () => {
  let stack: RotationStack;
  const events: RunEvent[] = [];
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'overdue', approvals: { timeout: '2s', escalationInterval: '1s' }, notifier: () => ({ notify: async (e) => void events.push(e) }) });
    await seedActiveKey(stack);
  });
  afterAll(() => stack?.stop());

  it('stays contained past the approval deadline and keeps escalating', async () => {
    const kid = kidOf(await stack.token());
    const handle = await startRevocation(stack.client, { kind: 'kid', value: kid, reason: 'nobody answers', requester: 'cli:requester', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await sleep(5_000);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await expect(stack.token()).rejects.toThrow(/503/);
    const overdue = events.filter((e) => e.workflowId === handle.workflowId && e.type === 'signoff.escalated' && e.overdue === true);
    expect(overdue.length).toBeGreaterThanOrEqual(2);
    expect(events.find((e) => e.workflowId === handle.workflowId && e.type === 'signoff.requested')).toMatchObject({ urgent: true });
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    await handle.result();
  });
});

describe('a validator cut off from PostgreSQL', () => {
  let stack: RotationStack;
  let party: RelyingParty | undefined;
  let proxy: Server | undefined;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'cutoff' });
    await seedActiveKey(stack);
  });
  afterAll(async () => {
    await party?.stop();
    proxy?.close();
    await stack?.stop();
  });

  it('fails closed once it cannot confirm its revocation list is fresh', async () => {
    const pg = new URL(stack.databaseUrl);
    proxy = createServer((client) => {
      const upstream = connect(Number(pg.port), pg.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => proxy!.listen(0, '127.0.0.1', r));
    const viaProxy = new URL(stack.databaseUrl);
    viaProxy.host = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    party = RelyingParty.start(stack, viaProxy.toString());
    await party.ready;
    const token = await stack.token();
    expect(await party.verify(token)).toBe('ok');

    proxy.close();
    for (const s of sockets) s.destroy();
    expect(await party.eventually(token, (c) => c === 'REVOCATION_STALE')).toBe('REVOCATION_STALE');
  });
});
