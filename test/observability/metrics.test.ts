import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpoint as writeCheckpoint } from '../../agents/auditor/checkpoint.js';
import { addClient } from '../../agents/token-issuer/clients.js';
import { scryptSlots } from '../../agents/token-issuer/secret-hash.js';
import { startRevocation } from '../../client/revocations.js';
import { isLoopbackHost, metricsAccess, registerMetricsRoute } from '../../http/metrics.js';
import { createMetrics, lastCheckpointAgeSeconds, type KeyturnMetrics } from '../../infra/metrics/registry.js';
import { pendingApprovals } from '../../infra/metrics/temporal-readings.js';
import { jwksUrlFor } from '../../workers/bootstrap.js';
import { checkpointSigner } from '../../workers/services.js';
import { kidOf, result, seedActiveKey } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/** One sample of the exposition text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (want.every((w) => (m[2] ?? '').split(',').includes(w))) return Number(m[3]);
  }
  return undefined;
}

describe('GET /metrics of a running keyturn', () => {
  let stack: RotationStack;
  let metrics: KeyturnMetrics;
  const scrape = async () => (await fetch(`${stack.httpUrl}/metrics`)).text();
  beforeAll(async () => {
    // The gauges read the stack's Temporal and PostgreSQL, which exist only once the stack does.
    const later: { stack?: RotationStack } = {};
    metrics = createMetrics({ pendingApprovals: () => pendingApprovals(later.stack!.client), lastCheckpointAgeSeconds: () => lastCheckpointAgeSeconds(later.stack!.pool) });
    stack = later.stack = await startRotationStack({ name: 'metrics', metrics, issuer: { accessTokenTtl: '60s', postRetireOverlap: '62s', prePublishLead: '1s' } });
    await seedActiveKey(stack);
  });
  afterAll(() => stack?.stop());

  it('counts tokens issued by client and algorithm', async () => {
    await stack.token();
    expect(sample(await scrape(), 'keyturn_tokens_issued_total', { client: stack.oauthClient.clientId, alg: 'ES256' })).toBe(1);
  });

  it('counts client secrets checked with scrypt: a wrong secret pays it, a remembered right one does not', async () => {
    await stack.token();
    const before = sample(await scrape(), 'keyturn_client_secret_scrypt_total') ?? 0;
    await stack.token();
    const wrong = `Basic ${Buffer.from(`${stack.oauthClient.clientId}:wrong-secret`).toString('base64')}`;
    const refused = await fetch(`${stack.httpUrl}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: wrong }, body: 'grant_type=client_credentials' });
    expect(refused.status).toBe(401);
    expect(sample(await scrape(), 'keyturn_client_secret_scrypt_total')).toBe(before + 1);
  });

  it('counts client authentications refused with 503 because too many secret checks were waiting', async () => {
    const before = sample(await scrape(), 'keyturn_client_secret_checks_busy_total') ?? 0;
    let open!: () => void;
    const held = new Promise<void>((resolve) => (open = resolve));
    const holders = Array.from({ length: scryptSlots.size + scryptSlots.maxWaiting }, () => scryptSlots.run(() => held));
    const wrong = `Basic ${Buffer.from(`${stack.oauthClient.clientId}:wrong-secret`).toString('base64')}`;
    const busy = await fetch(`${stack.httpUrl}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: wrong }, body: 'grant_type=client_credentials' }).finally(open);
    await Promise.all(holders);
    expect(busy.status).toBe(503);
    expect(sample(await scrape(), 'keyturn_client_secret_checks_busy_total')).toBe(before + 1);
  });

  it('counts validations by outcome and rejection code', async () => {
    const token = await stack.token();
    const c = stack.oauthClient;
    const introspect = (t: string) => fetch(`${stack.httpUrl}/oauth2/introspect`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${c.clientId}:${c.secret}`).toString('base64')}` }, body: new URLSearchParams({ token: t }).toString() });
    await introspect(token);
    await introspect(`${token.slice(0, -6)}AAAAAA`);
    const text = await scrape();
    expect(sample(text, 'keyturn_validations_total', { outcome: 'accepted', code: 'OK' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'keyturn_validations_total', { outcome: 'rejected', code: 'SIGNATURE_INVALID' })).toBe(1);
  });

  it("counts introspections refused because the asking client may not introspect another client's token", async () => {
    const token = await stack.token();
    const other = await addClient(stack.pool, { clientId: `other-${Date.now()}`, scopes: ['read'] });
    const before = sample(await scrape(), 'keyturn_introspections_refused_total') ?? 0;
    const res = await fetch(`${stack.httpUrl}/oauth2/introspect`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${other.clientId}:${other.secret}`).toString('base64')}` }, body: new URLSearchParams({ token }).toString() });
    expect(await res.json()).toEqual({ active: false });
    expect(sample(await scrape(), 'keyturn_introspections_refused_total')).toBe(before + 1);
  });

  it('counts JWKS requests and the 304s of conditional ones', async () => {
    const url = jwksUrlFor(stack.httpUrl)(stack.issuer);
    const first = await fetch(url);
    await first.text();
    await (await fetch(url, { headers: { 'if-none-match': first.headers.get('etag')! } })).text();
    const text = await scrape();
    expect(sample(text, 'keyturn_jwks_requests_total', { status: '200' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'keyturn_jwks_requests_total', { status: '304' })).toBe(1);
  });

  it('shows a run waiting for sign-off as a pending approval, and observes each rotation phase', async () => {
    const handle = await stack.rotate('metrics rotation');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    let pending: number | undefined;
    for (let i = 0; i < 50 && !pending; i++) {
      pending = sample(await scrape(), 'keyturn_approvals_pending');
      if (!pending) await new Promise((r) => setTimeout(r, 200));
    }
    expect(pending).toBe(1);
    await stack.decide(handle, 'approve', 'cli:alice');
    await stack.waitFor(handle, (s) => s.phase === 'overlap', 'the overlap');
    const text = await scrape();
    for (const phase of ['sign_off', 'pre_publication', 'canary']) expect(sample(text, 'keyturn_rotation_phase_seconds_count', { phase })).toBeGreaterThanOrEqual(1);
    await stack.decide(handle, 'rollback', 'cli:bob', 'end the test');
    await result(handle);
  });

  it('counts revocations by kind and stage', async () => {
    const handle = await startRevocation(stack.client, { kind: 'kid', value: kidOf(await stack.token()), reason: 'metrics drill', requester: 'cli:requester', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'reject', 'cli:bob', 'drill');
    await handle.result();
    const text = await scrape();
    expect(sample(text, 'keyturn_revocations_total', { kind: 'kid', stage: 'contained' })).toBe(1);
    expect(sample(text, 'keyturn_revocations_total', { kind: 'kid', stage: 'lifted' })).toBe(1);
  });

  it('reports the age of the last audit checkpoint', async () => {
    await writeCheckpoint(stack.pool, checkpointSigner(stack.services));
    const age = sample(await scrape(), 'keyturn_audit_checkpoint_age_seconds');
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(60);
  });
});

describe('a metrics token', () => {
  it('makes /metrics refuse requests without it', async () => {
    const app = Fastify();
    registerMetricsRoute(app, createMetrics(), { token: 'metrics-token-0123456789' });
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/metrics', headers: { authorization: 'Bearer wrong-token-0123456789xx' } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/metrics', headers: { authorization: 'Bearer short' } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${'x'.repeat(4096)}` } })).statusCode).toBe(401);
    const ok = await app.inject({ url: '/metrics', headers: { authorization: 'Bearer metrics-token-0123456789' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['content-type']).toContain('text/plain');
  });
});

describe('without a metrics token', () => {
  it('/metrics is served on a loopback listener only', () => {
    expect(['127.0.0.1', '127.8.0.1', 'localhost', '::1', '[::1]'].map(isLoopbackHost)).toEqual([true, true, true, true, true]);
    expect(['0.0.0.0', '::', '10.0.0.5', 'keyturn.internal', '127.0.0.1.example'].map(isLoopbackHost)).toEqual([false, false, false, false, false]);
    expect([metricsAccess('127.0.0.1', undefined), metricsAccess('0.0.0.0', undefined), metricsAccess('0.0.0.0', 't'.repeat(16))]).toEqual(['loopback', 'off', { token: 't'.repeat(16) }]);
  });

  it('a keyturn listening on every address does not serve /metrics, and still serves its other routes', async () => {
    const stack = await startRotationStack({ name: 'metrics-public', noWorker: true, metrics: createMetrics(), httpListenHost: '0.0.0.0' });
    try {
      expect((await fetch(`${stack.httpUrl}/metrics`)).status).toBe(404);
      expect((await fetch(`${stack.httpUrl}/healthz`)).status).toBe(200);
    } finally {
      await stack.stop();
    }
  });
});
