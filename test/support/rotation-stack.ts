import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, type Client, type WorkflowHandle } from '@temporalio/client';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import type { JWK } from 'jose';
import type { Notifier } from '../../agents/approvals/notifier.js';
import { inject } from 'vitest';
import type { Clock } from '../../agents/shared/clock.js';
import { urlAs } from './login-url.js';
import { signAttestation, type Decision } from '../../agents/approvals/attestation.js';
import { generateChannelKey, registerChannelKey } from '../../agents/approvals/channel-keys.js';
import { setupAudit } from './setup-audit.js';
import { policyDoc } from '../../agents/planner/policy-fixtures.js';
import { loadPolicy, readPolicyText } from '../../agents/planner/policy.js';
import { bootstrapPolicy, pgListener, PolicyWatcher } from '../../agents/planner/policy-store.js';
import type { Policy } from '../../agents/planner/policy-types.js';
import { addClient } from '../../agents/token-issuer/clients.js';
import { createValidator } from '../../agents/validator/index.js';
import type { Validator } from '../../agents/validator/types.js';
import { startRotation } from '../../client/rotations.js';
import { createPool, type Pool } from '../../db/pool.js';
import { createLogger } from '../../infra/log/logger.js';
import type { KeyturnMetrics } from '../../infra/metrics/registry.js';
import { metricsNotifier } from '../../infra/metrics/run-events.js';
import { freePort } from '../../infra/net.js';
import { jwksUrlFor } from '../../workers/bootstrap.js';
import { createKeyturnHttp, type KeyturnHttp } from '../../workers/http-app.js';
import { createServices, type Services } from '../../workers/services.js';
import { keyturnClient } from '../../infra/temporal/client.js';
import { EncryptionCodec } from '../../infra/temporal/codec/encryption-codec.js';
import { loadPayloadKeyring } from '../../infra/temporal/codec/keyring.js';
import { CodecOperatorToken } from '../../infra/temporal/codec/operator-token.js';
import { pgCodecSessionEnds } from '../../infra/temporal/codec/session-ends.js';
import { createKeyturnWorker, workflowBundle } from '../../workers/worker.js';
import type { rotationWorkflow } from '../../workflows/rotation.js';
import { statusQuery } from '../../workflows/rotation.js';
import type { RunStatus } from '../../workflows/types.js';
import { unique } from './db.js';

/** Second-scale durations: the same policy rules, only shorter. Tests override per case. */
export const FAST_TIMINGS = {
  algorithm: 'ES256',
  accessTokenTtl: '4s',
  clockSkew: '1s',
  jwksMaxAge: '1s',
  prePublishLead: '1s',
  postRetireOverlap: '6s',
  revocationFreshness: '5s',
};

export interface RotationStackOptions {
  name: string;
  issuer?: Record<string, unknown>;
  approvals?: Record<string, unknown>;
  /** Where the worker's canary check fetches the JWKS (default: this stack's HTTP service). */
  canaryJwksBase?: (httpUrl: string) => string;
  /** Run no worker in this process (the test starts worker processes itself). */
  noWorker?: boolean;
  /** A database of the test's own (default: the run's shared one). */
  databaseUrl?: string;
  /**
   * Serve the policy as production does: bootstrapped into the versioned store and followed over
   * LISTEN/NOTIFY. Needs a database of its own (the store holds one policy history per database).
   */
  policyFromStore?: boolean;
  /** A Temporal server of the test's own (default: the run's shared one). */
  temporalAddress?: string;
  /** Served on /metrics and fed by the worker's run events. */
  metrics?: KeyturnMetrics;
  /** The address the HTTP service declares it listens on (it listens on 127.0.0.1 whatever this says). */
  httpListenHost?: string;
  /** Default: a fresh private queue. */
  taskQueue?: string;
  /** The worker's notifier (default: the log notifier). */
  notifier?: (ctx: { pool: Pool }) => Notifier;
  /** Serve the codec endpoint with a fresh operator token, for these browser origins. */
  codec?: { allowedOrigins: string[] };
  /** The agents' clock (default: the system's); the workflows keep Temporal's. */
  clock?: Clock;
  /** Around the in-process worker's activities (fault injection). */
  activityInterceptors?: ActivityInterceptorsFactory[];
  /** Answer activity tasks before the worker binds results to their calls, as an outsider could. */
  outsideAnswers?: ActivityInterceptorsFactory[];
  /** Extra route groups for the HTTP service (e.g. the Slack app), built once the stack's parts exist. */
  httpRoutes?: (ctx: { pool: Pool; adminPool: Pool; client: Client; policy: () => Policy }) => Promise<Array<(app: FastifyInstance) => void>>;
}

export const APPROVERS = ['cli:alice', 'cli:bob', 'cli:carol'] as const;
export type Approver = (typeof APPROVERS)[number];

/**
 * One real keyturn deployment on the shared PostgreSQL and Temporal: a policy file with
 * second-scale durations for a fresh issuer, the agents, a real worker on a private task queue,
 * the HTTP service on a free port, a registered client, and CLI approver keys for three people.
 */
export interface RotationStack {
  issuer: string;
  audience: string;
  policyPath: string;
  dataDir: string;
  policy: Policy;
  /** The policy the stack's processes apply now (with policyFromStore, followed over LISTEN/NOTIFY). */
  currentPolicy: () => Policy;
  pool: Pool;
  /** The table owner's login, for an administrator's changes (registering an approval key). */
  adminPool: Pool;
  client: Client;
  services: Services;
  taskQueue: string;
  httpUrl: string;
  databaseUrl: string;
  temporalAddress: string;
  namespace: string;
  oauthClient: { clientId: string; secret: string };
  /** The codec endpoint's operator token, when `codec` was asked for. */
  codecToken?: string;
  rotate(reason?: string, requester?: string): Promise<WorkflowHandle<typeof rotationWorkflow>>;
  status(handle: WorkflowHandle): Promise<RunStatus>;
  waitFor(handle: WorkflowHandle, predicate: (s: RunStatus) => boolean, what: string): Promise<RunStatus>;
  attest(handle: WorkflowHandle, decision: Decision, approver: Approver, overrides?: { runId?: string; planHash?: string; reason?: string }): Promise<string>;
  /** The approver's registered CLI key, for attestations signed by hand. */
  approverKey(approver: Approver): { kid: string; privateJwk: JWK };
  decide(handle: WorkflowHandle, decision: Decision, approver: Approver, reason?: string): Promise<void>;
  token(): Promise<string>;
  relyingParty(): Validator;
  jwksKids(): Promise<string[]>;
  startWorker(): Promise<() => Promise<void>>;
  /** The environment a `workers/main.ts` process needs to join this stack, logging in as production does. */
  workerProcessEnv(): NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export async function startRotationStack(o: RotationStackOptions): Promise<RotationStack> {
  const databaseUrl = o.databaseUrl ?? inject('databaseUrl');
  const temporalAddress = o.temporalAddress ?? inject('temporalAddress');
  const namespace = inject('temporalNamespace');
  const dataDir = mkdtempSync(join(tmpdir(), `keyturn-${o.name}-`));
  const port = await freePort();
  const httpUrl = `http://127.0.0.1:${port}`;
  const issuer = `http://localhost/${unique(o.name)}`;
  const audience = 'https://api.rotation.test';
  const policyPath = join(dataDir, 'policy.md');
  writeFileSync(policyPath, policyDoc({
    issuer,
    audiences: [audience],
    ...FAST_TIMINGS,
    ...o.issuer,
    approvals: { approvers: [...APPROVERS], quorum: 1, timeout: '60s', escalationInterval: '30s', channels: ['cli'], ...o.approvals },
  }));
  const pool = createPool(databaseUrl, { max: 10 });
  const adminPool = createPool(databaseUrl, { max: 2, appRole: false });
  const services = await createServices({ pool, devDataDir: dataDir, warn: () => {}, ...(o.clock ? { clock: o.clock } : {}) });
  let watcher: PolicyWatcher | undefined;
  let currentPolicy: () => Policy;
  if (o.policyFromStore) {
    await bootstrapPolicy(pool, await readPolicyText(policyPath), services.appendAudit, { role: 'Orchestrator' });
    watcher = new PolicyWatcher({ db: pool, connectListener: pgListener(databaseUrl, 'test-policy') });
    await watcher.start();
    currentPolicy = () => watcher!.current();
  } else {
    const fixed = await loadPolicy(policyPath);
    currentPolicy = () => fixed;
  }
  const policy = currentPolicy();
  const log = createLogger({ name: `test-${o.name}`, level: 'warn' });
  const connection = await Connection.connect({ address: temporalAddress });
  const payloadKeyring = loadPayloadKeyring();
  const client = keyturnClient(connection, namespace, payloadKeyring);
  const taskQueue = o.taskQueue ?? `rotation-${o.name}-${process.pid}-${Date.now()}`;

  const keys = new Map<string, { kid: string; privateJwk: JWK }>();
  for (const approver of APPROVERS) {
    const key = await generateChannelKey();
    await registerChannelKey(adminPool, { kid: key.kid, channel: 'cli', approver, publicJwk: key.publicJwk }, setupAudit);
    keys.set(approver, { kid: key.kid, privateJwk: key.privateJwk });
  }
  const oauthClient = await addClient(pool, { clientId: unique('rp'), scopes: ['read'] });

  const routes = o.httpRoutes ? await o.httpRoutes({ pool, adminPool, client, policy: currentPolicy }) : [];
  const codecToken = o.codec ? randomBytes(32).toString('base64url') : undefined;
  const codec = o.codec && codecToken
    ? { codec: new EncryptionCodec(payloadKeyring, 'operator'), token: new CodecOperatorToken(codecToken), sessionEnds: pgCodecSessionEnds(pool), allowedOrigins: o.codec.allowedOrigins, secureCookie: false }
    : undefined;
  const http: KeyturnHttp = await createKeyturnHttp({
    ...(codec ? { codec } : {}),
    services, databaseUrl, policy: currentPolicy, publicUrl: httpUrl, log, routes, ...(o.metrics ? { metrics: o.metrics } : {}), ...(o.httpListenHost ? { listenHost: o.httpListenHost } : {}),
    temporalHealthy: async () => void (await connection.workflowService.getSystemInfo({})),
  });
  await http.app.listen({ host: '127.0.0.1', port });

  const startWorker = async () => {
    const { worker, connection: wc } = await createKeyturnWorker({
      temporalAddress, namespace, taskQueue, pool, services,
      policy: currentPolicy,
      jwksUrl: jwksUrlFor(o.canaryJwksBase?.(httpUrl) ?? httpUrl),
      databaseUrl,
      ...(o.notifier ? { notifier: o.notifier({ pool }) } : o.metrics ? { notifier: metricsNotifier(o.metrics) } : {}),
      payloadKeyring,
      workflowBundle: await workflowBundle(),
      ...(o.activityInterceptors ? { activityInterceptors: o.activityInterceptors } : {}),
      ...(o.outsideAnswers ? { outsideAnswers: o.outsideAnswers } : {}),
    });
    const running = worker.run();
    return async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await wc.close();
    };
  };
  const stopWorker = o.noWorker ? undefined : await startWorker();
  const validators: Validator[] = [];

  const stack: RotationStack = {
    issuer, audience, policyPath, dataDir, policy, currentPolicy, pool, adminPool, client, services, taskQueue, httpUrl, databaseUrl, temporalAddress, namespace, oauthClient,
    ...(codecToken ? { codecToken } : {}),
    rotate: (reason = 'scheduled hygiene', requester = 'cli:requester') =>
      startRotation(client, { issuer, reason, requester: { kind: 'cli', id: requester }, taskQueue }),
    status: (handle) => handle.query(statusQuery),
    async waitFor(handle, predicate, what) {
      const deadline = Date.now() + 60_000;
      let last: RunStatus | undefined;
      while (Date.now() < deadline) {
        const d = await handle.describe();
        if (d.status.name !== 'RUNNING') throw new Error(`run ended (${d.status.name}) while waiting for ${what}; last phase ${last?.phase}`);
        last = await handle.query(statusQuery);
        if (predicate(last)) return last;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`timed out waiting for ${what}; last phase ${last?.phase}`);
    },
    async attest(handle, decision, approver, overrides = {}) {
      const s = await stack.waitFor(handle, (x) => x.planHash !== undefined, 'a plan');
      const runId = overrides.runId ?? (await handle.describe()).runId;
      return signAttestation(
        { channel: 'cli', approver, decision, workflowId: handle.workflowId, runId, planHash: overrides.planHash ?? s.planHash!, ...(overrides.reason ? { reason: overrides.reason } : {}) },
        keys.get(approver)!,
      );
    },
    approverKey: (approver) => keys.get(approver)!,
    async decide(handle, decision, approver, reason) {
      await handle.signal(decision, { attestation: await stack.attest(handle, decision, approver, reason ? { reason } : {}) });
    },
    async token() {
      const res = await fetch(`${httpUrl}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${oauthClient.clientId}:${oauthClient.secret}`).toString('base64')}` },
        body: 'grant_type=client_credentials',
      });
      const body = (await res.json()) as { access_token?: string; error_description?: string };
      if (!body.access_token) throw new Error(`token endpoint answered ${res.status}: ${body.error_description}`);
      return body.access_token;
    },
    relyingParty() {
      const p = policy.issuers[0]!;
      const v = createValidator({
        issuer, audience, algorithms: [p.algorithm], jwksUri: jwksUrlFor(httpUrl)(issuer),
        clockSkewSeconds: p.clockSkewSeconds, maxTokenAgeSeconds: p.maxTokenAgeSeconds, jwksCooldownMs: 0,
      });
      validators.push(v);
      return v;
    },
    async jwksKids() {
      const res = await fetch(jwksUrlFor(httpUrl)(issuer), { headers: { 'cache-control': 'no-cache' } });
      return ((await res.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort();
    },
    startWorker,
    workerProcessEnv: () => ({
      ...process.env,
      DATABASE_URL: asRuntimeLogin(databaseUrl),
      KEYTURN_MIGRATIONS: 'check',
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: namespace,
      KEYTURN_TASK_QUEUE: taskQueue,
      KEYTURN_POLICY: policyPath,
      KEYTURN_KEK_FILE: join(dataDir, 'kek'),
      KEYTURN_AUDIT_KEY_FILE: join(dataDir, 'audit-key.jwk'),
      KEYTURN_PUBLIC_URL: httpUrl,
      KEYTURN_LOG_LEVEL: 'warn',
      KEYTURN_WORKER_METRICS_PORT: '0',
    }),
    async stop() {
      for (const v of validators) v.close();
      await stopWorker?.();
      await http.close();
      await watcher?.close();
      await connection.close();
      await pool.end();
      await adminPool.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** The same database, reached as the run's runtime login (a member of keyturn_app, nothing more). */
function asRuntimeLogin(databaseUrl: string): string {
  return urlAs(databaseUrl, inject('runtimeLogin'));
}
