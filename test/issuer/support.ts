import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { decodeProtectedHeader, importJWK, jwtVerify, type JWTPayload } from 'jose';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import type { AuditActor } from '../../agents/auditor/types.js';
import { LocalKekProvider } from '../../agents/key-manager/kek.js';
import { KeyManager } from '../../agents/key-manager/key-manager.js';
import type { IssuerPolicy, Policy } from '../../agents/planner/policy-types.js';
import { systemClock, type Clock } from '../../agents/shared/clock.js';
import { addClient } from '../../agents/token-issuer/clients.js';
import { TokenIssuer } from '../../agents/token-issuer/token-issuer.js';
import type { Pool } from '../../db/pool.js';
import { registerOAuthRoutes, type OAuthRouteDeps } from '../../http/oauth.js';
import { buildHttpServer } from '../../http/server.js';
import type { OAuthLog } from '../../http/oauth-client-auth.js';
import { unique } from '../support/db.js';

export const POLICY_VERSION = 'b'.repeat(64);
export const TTL = 300;
export const actor: AuditActor = { role: 'KeyManager', workflowId: 'test-issuer' };

export function issuerPolicy(issuer: string, overrides: Partial<IssuerPolicy> = {}): IssuerPolicy {
  return {
    issuer,
    audiences: ['https://api.example.test'],
    algorithm: 'ES256',
    rsaModulusLength: 2048,
    accessTokenTtlSeconds: TTL,
    clockSkewSeconds: 30,
    maxTokenAgeSeconds: 3600,
    rotationPeriodSeconds: 86400,
    jwksMaxAgeSeconds: 300,
    prePublishLeadSeconds: 600,
    postRetireOverlapSeconds: 600,
    revocationFreshnessSeconds: 60,
    approvals: { approvers: ['cli:alice'], quorum: 1, timeoutSeconds: 3600, escalationIntervalSeconds: 600, channels: ['cli'] },
    ...overrides,
  };
}

/** A fresh issuer with an active ES256 key in a real KeyManager, and a TokenIssuer over it. */
export interface World {
  issuer: string;
  km: KeyManager;
  tokens: TokenIssuer;
  policy: Policy;
}

export async function world(pool: Pool, overrides: Partial<IssuerPolicy> = {}, clock: Clock = systemClock): Promise<World> {
  const issuer = unique('https://issuer.test/t');
  const km = new KeyManager({ pool, kek: new LocalKekProvider(randomBytes(32)), appendAudit, clock: systemClock });
  const base = { requestId: `test-${randomUUID()}`, policyVersion: POLICY_VERSION, actor };
  const key = await km.generateKey({ ...base, issuer, alg: 'ES256' });
  await km.activate({ ...base, requestId: `test-${randomUUID()}`, issuer, kid: key.kid });
  const policy: Policy = { version: POLICY_VERSION, issuers: [issuerPolicy(issuer, overrides)] };
  const tokens = new TokenIssuer({ pool, signer: km, appendAudit, clock, policy: () => policy });
  return { issuer, km, tokens, policy };
}

/** A registered client with a unique id. */
export async function client(pool: Pool, scopes = ['read', 'write'], tenant?: string, o: { mayIntrospect?: boolean } = {}): Promise<{ clientId: string; secret: string }> {
  return addClient(pool, { clientId: unique('client'), scopes, ...(tenant ? { tenant } : {}), ...(o.mayIntrospect ? { mayIntrospect: true } : {}) });
}

/** Verifies a token against the issuer's published keys, as a relying party would. */
export async function verifyToken(w: World, token: string): Promise<JWTPayload> {
  const { kid } = decodeProtectedHeader(token);
  const jwk = (await w.km.jwks(w.issuer)).keys.find((k) => k.kid === kid);
  if (!jwk) throw new Error('unknown kid');
  const { payload } = await jwtVerify(token, await importJWK(jwk, 'ES256'), { issuer: w.issuer, typ: 'at+jwt', algorithms: ['ES256'] });
  return payload;
}

const ignore = () => undefined;
/** The OAuth routes' logger in tests that do not look at what is logged. */
export const silentLog = { info: ignore, warn: ignore, error: ignore } as unknown as OAuthLog;

export function app(pool: Pool, w: World, extra: Partial<OAuthRouteDeps> = {}, server: { trustProxy?: string[] } = {}): FastifyInstance {
  return buildHttpServer({
    pool,
    temporalHealthy: async () => {},
    ...(server.trustProxy ? { trustProxy: server.trustProxy } : {}),
    routes: [(a) => registerOAuthRoutes(a, { issuer: w.tokens, pool, defaultIssuer: () => w.issuer, appendAudit, log: silentLog, ...extra })],
  });
}

export const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

let ipSeq = 0;
/** A distinct client address per call, so the failure limiter of one test never blocks another. */
export const freshIp = (): string => `10.${process.pid % 250}.${Math.floor(++ipSeq / 250) % 250}.${ipSeq % 250}`;

export function post(a: FastifyInstance, url: string, form: Record<string, string>, opts: { authorization?: string; ip?: string } = {}): Promise<LightMyRequestResponse> {
  const req: InjectOptions = {
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(opts.authorization ? { authorization: opts.authorization } : {}) },
    payload: new URLSearchParams(form).toString(),
    remoteAddress: opts.ip ?? freshIp(),
  };
  return a.inject(req);
}

export async function auditEntries(pool: Pool, action: string, key: string, value: string): Promise<Array<{ outcome: string; details: Record<string, unknown>; actor: AuditActor }>> {
  const res = await pool.query<{ outcome: string; details: Record<string, unknown>; actor: AuditActor }>(
    `SELECT outcome, details, actor FROM audit_log WHERE action = $1 AND subject ->> $2 = $3 ORDER BY seq`,
    [action, key, value],
  );
  return res.rows;
}

export async function issuedCount(pool: Pool, issuer: string): Promise<number> {
  const res = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM issued_tokens WHERE issuer = $1`, [issuer]);
  return Number(res.rows[0]!.n);
}
