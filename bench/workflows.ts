import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, type Client } from '@temporalio/client';
import { keyturnClient } from '../infra/temporal/client.js';
import { loadPayloadKeyring } from '../infra/temporal/codec/keyring.js';
import { signAttestation } from '../agents/approvals/attestation.js';
import { generateChannelKey, registerChannelKey } from '../agents/approvals/channel-keys.js';
import { createPool } from '../db/pool.js';
import { issuerWith, policyDoc } from '../agents/planner/policy-fixtures.js';
import { loadPolicy } from '../agents/planner/policy.js';
import type { Policy } from '../agents/planner/policy-types.js';
import { createLogger } from '../infra/log/logger.js';
import { freePort } from '../infra/net.js';
import { startDevServer, type DevServer } from '../infra/temporal/dev-server.js';
import { statusQuery } from '../workflows/rotation.js';
import { jwksUrlFor } from '../workers/bootstrap.js';
import { createKeyturnHttp, type KeyturnHttp } from '../workers/http-app.js';
import { createKeyturnWorker } from '../workers/worker.js';
import type { BenchStack } from './stack.js';

/**
 * A real Temporal dev server, keyturn's worker and HTTP service on the bench's PostgreSQL, and a
 * policy of `issuers` ES256 issuers whose waits are the smallest the policy rules allow: no
 * pre-publication lead (JWKS max-age 0) and a 1 s overlap (a 1 s token TTL, no skew).
 */
export interface WorkflowBench {
  client: Client;
  taskQueue: string;
  policy: Policy;
  httpUrl: string;
  issuers: string[];
  /** Sends an attested approval from the bench approver once the run has a plan. */
  approve(workflowId: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startWorkflowBench(stack: BenchStack, issuers: number, say: (l: string) => void, lifetimes: { ttl: string; overlap: string } = { ttl: '1s', overlap: '1s' }): Promise<WorkflowBench> {
  say('[bench] starting a Temporal dev server for the workflow rows…');
  const server: DevServer = await startDevServer({ say });
  const run = Date.now().toString(36);
  const names = Array.from({ length: issuers }, (_, i) => `http://localhost/bench-wf-${run}-${i}`);
  const dir = mkdtempSync(join(tmpdir(), 'keyturn-bench-wf-'));
  const policyPath = join(dir, 'policy.md');
  writeFileSync(policyPath, policyDoc(...names.map((issuer) => issuerWith({
    issuer, algorithm: 'ES256', accessTokenTtl: lifetimes.ttl, clockSkew: '0s', jwksMaxAge: '0s', prePublishLead: '0s', postRetireOverlap: lifetimes.overlap, revocationFreshness: '30s',
    approvals: { approvers: ['cli:bench-approver'], quorum: 1, channels: ['cli'], timeout: '10m' },
  }))));
  const policy = await loadPolicy(policyPath);
  const key = await generateChannelKey();
  // Registering an approval key is the table owner's change, not the runtime login's.
  const admin = createPool(stack.databaseUrl, { max: 1, appRole: false });
  await registerChannelKey(admin, { kid: key.kid, channel: 'cli', approver: 'cli:bench-approver', publicJwk: key.publicJwk }, { appendAudit: stack.services.appendAudit, actor: { role: 'Human', cliUser: 'cli:bench-setup' }, policyVersion: 'none' }).finally(() => admin.end());

  const port = await freePort();
  const httpUrl = `http://127.0.0.1:${port}`;
  const connection = await Connection.connect({ address: server.address });
  // The same encryption as production, so the figures include the codec's cost.
  const payloadKeyring = loadPayloadKeyring({ devDataDir: dir, create: true });
  const client = keyturnClient(connection, server.namespace, payloadKeyring);
  const http: KeyturnHttp = await createKeyturnHttp({
    services: stack.services, databaseUrl: stack.databaseUrl, policy: () => policy, publicUrl: httpUrl,
    log: createLogger({ name: 'bench-http', level: 'error' }), temporalHealthy: async () => {},
  });
  await http.app.listen({ host: '127.0.0.1', port });
  const taskQueue = `bench-${run}`;
  const { worker, connection: wc } = await createKeyturnWorker({
    temporalAddress: server.address, namespace: server.namespace, taskQueue, pool: stack.pool, services: stack.services,
    policy: () => policy, jwksUrl: jwksUrlFor(httpUrl), databaseUrl: stack.databaseUrl,
    notifier: { notify: async () => {} }, payloadKeyring,
  });
  const running = worker.run();

  return {
    client, taskQueue, policy, httpUrl, issuers: names,
    async approve(workflowId) {
      const handle = client.workflow.getHandle(workflowId);
      let planHash: string | undefined;
      while (!planHash) {
        planHash = (await handle.query(statusQuery)).planHash;
        if (!planHash) await new Promise((r) => setTimeout(r, 5));
      }
      const { runId } = await handle.describe();
      const attestation = await signAttestation({ channel: 'cli', approver: 'cli:bench-approver', decision: 'approve', workflowId, runId, planHash }, { kid: key.kid, privateJwk: key.privateJwk });
      await handle.signal('approve', { attestation });
    },
    async stop() {
      worker.shutdown();
      await running;
      await wc.close();
      await http.close();
      await connection.close();
      await server.stop();
    },
  };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
