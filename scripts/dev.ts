/**
 * `npm run dev`: PostgreSQL, Temporal with its Web UI, the keyturn worker and HTTP service, all on
 * embedded defaults (or DATABASE_URL / TEMPORAL_ADDRESS when set). Ctrl-C stops every part.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { loadEnv } from '../config/env.js';
import { isKeyturnError } from '../config/errors.js';
import { migrate } from '../db/migrate.js';
import { createPool } from '../db/pool.js';
import { buildHttpServer } from '../http/server.js';
import { createLogger } from '../infra/log/logger.js';
import { startEmbeddedPostgres } from '../infra/postgres/embedded.js';
import { removeRuntimeInfo, writeRuntimeInfo } from '../infra/runtime/runtime-file.js';
import { startDevServer } from '../infra/temporal/dev-server.js';
import { loadPolicy } from '../agents/planner/policy.js';
import { startCheckpointer } from '../agents/auditor/checkpoint.js';
import { registerJwksRoutes } from '../http/jwks.js';
import { registerOAuthRoutes } from '../http/oauth.js';
import { TokenIssuer } from '../agents/token-issuer/token-issuer.js';
import { createServices } from '../workers/services.js';
import { createKeyturnWorker } from '../workers/worker.js';

const log = createLogger({ name: 'keyturn-dev' });
const stoppers: Array<{ name: string; stop: () => Promise<unknown> }> = [];
const say = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<void> {
  const started = Date.now();
  const env = loadEnv();
  mkdirSync(env.dataDir, { recursive: true, mode: 0o755 });

  let databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) {
    say(`[keyturn] starting embedded PostgreSQL on 127.0.0.1:${env.KEYTURN_PG_PORT} (data in ${join(env.dataDir, 'pg')})`);
    const pg = await startEmbeddedPostgres({ dataDir: join(env.dataDir, 'pg', 'data'), port: env.KEYTURN_PG_PORT });
    stoppers.push({ name: 'PostgreSQL', stop: pg.stop });
    databaseUrl = pg.url;
  }
  const applied = await migrate(databaseUrl);
  if (applied.length) say(`[keyturn] applied migrations: ${applied.join(', ')}`);
  const pool = createPool(databaseUrl);
  stoppers.push({ name: 'database pool', stop: () => pool.end() });
  const policy = await loadPolicy(env.KEYTURN_POLICY);
  say(`[keyturn] policy ${env.KEYTURN_POLICY} version ${policy.version.slice(0, 12)} (${policy.issuers.length} issuer(s))`);
  const services = await createServices({ pool, devDataDir: env.dataDir, warn: (m) => say(`[keyturn] warning: ${m}`) });
  const stopCheckpointer = startCheckpointer(pool, services.auditSigner, 60_000);
  stoppers.push({ name: 'audit checkpointer', stop: stopCheckpointer });
  const httpBase = `http://${env.KEYTURN_HTTP_HOST}:${env.KEYTURN_HTTP_PORT}`;

  let temporalAddress = env.TEMPORAL_ADDRESS;
  let uiUrl = env.KEYTURN_TEMPORAL_UI_URL;
  if (!temporalAddress) {
    say(`[keyturn] starting Temporal dev server on 127.0.0.1:${env.KEYTURN_TEMPORAL_PORT} (history in ${join(env.dataDir, 'temporal.db')})`);
    const server = await startDevServer({
      port: env.KEYTURN_TEMPORAL_PORT,
      uiPort: env.KEYTURN_TEMPORAL_UI_PORT,
      namespace: env.TEMPORAL_NAMESPACE,
      dbFilename: join(env.dataDir, 'temporal.db'),
      say,
    });
    stoppers.push({ name: 'Temporal', stop: server.stop });
    temporalAddress = server.address;
    uiUrl = server.uiUrl;
  }

  const client = await Connection.connect({ address: temporalAddress });
  stoppers.push({ name: 'Temporal client', stop: () => client.close() });

  const { worker, connection } = await createKeyturnWorker({
    temporalAddress,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.KEYTURN_TASK_QUEUE,
    pool,
    services,
    policy: () => policy,
    jwksUrl: (issuer) => `${httpBase}/.well-known/jwks.json?issuer=${encodeURIComponent(issuer)}`,
  });
  const workerRun = worker.run();
  stoppers.push({
    name: 'worker',
    stop: async () => {
      // The SDK already begins draining on SIGINT/SIGTERM; only ask when it has not.
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await connection.close();
    },
  });

  const maxAge = (issuer?: string) => Math.min(...policy.issuers.filter((p) => !issuer || p.issuer === issuer).map((p) => p.jwksMaxAgeSeconds));
  const http = buildHttpServer({
    pool,
    temporalHealthy: async () => void (await client.workflowService.getSystemInfo({})),
    routes: [
      (app) => registerJwksRoutes(app, { keyManager: services.keyManager, jwksMaxAgeSeconds: maxAge, issuerBaseUrl: httpBase }),
      (app) => registerOAuthRoutes(app, { issuer: new TokenIssuer({ pool, signer: services.keyManager, appendAudit: services.appendAudit, clock: services.clock, policy: () => policy }), pool, defaultIssuer: policy.issuers[0]!.issuer, appendAudit: services.appendAudit }),
    ],
  });
  await http.listen({ host: env.KEYTURN_HTTP_HOST, port: env.KEYTURN_HTTP_PORT });
  stoppers.push({ name: 'HTTP', stop: () => http.close() });

  const httpUrl = httpBase;
  writeRuntimeInfo(env.dataDir, { databaseUrl, temporalAddress, ...(uiUrl ? { temporalUiUrl: uiUrl } : {}), httpUrl, pid: process.pid });
  stoppers.push({ name: 'runtime file', stop: async () => removeRuntimeInfo(env.dataDir) });
  process.stdout.write(
    [
      '',
      `keyturn is up (${((Date.now() - started) / 1000).toFixed(1)}s)`,
      `  PostgreSQL       ${redactPassword(databaseUrl)}`,
      `  Temporal         ${temporalAddress}  namespace=${env.TEMPORAL_NAMESPACE}  task queue=${env.KEYTURN_TASK_QUEUE}`,
      `  Temporal Web UI  ${uiUrl ?? '(external server: set KEYTURN_TEMPORAL_UI_URL)'}`,
      `  keyturn HTTP     ${httpUrl}/healthz  ${httpUrl}/.well-known/jwks.json`,
      `  Slack            ${process.env.SLACK_SIGNING_SECRET ? 'configured' : 'not configured (approvals via CLI only)'}`,
      '  Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

function redactPassword(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('[keyturn] stopping…');
  for (const s of stoppers.reverse()) {
    try {
      await s.stop();
    } catch (e) {
      log.warn({ err: (e as Error).message }, `stopping ${s.name} failed`);
    }
  }
  say('[keyturn] stopped');
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

main().catch((e: unknown) => {
  say(isKeyturnError(e) ? e.toLine() : `error: ${(e as Error).stack ?? String(e)}`);
  void shutdown(1);
});
