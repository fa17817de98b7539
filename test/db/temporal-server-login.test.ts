import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, Client } from '@temporalio/client';
import pg from 'pg';
import { msToTs } from '@temporalio/common/lib/time.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { provisionTemporalLogin } from '../../db/temporal-login.js';
import { envForOtherPrograms } from '../../infra/process.js';

import { superuserPool } from '../support/db.js';

/**
 * Compose's Temporal on PostgreSQL, without Docker: the same server release's `temporal-sql-tool`
 * and `temporal-server` binaries, run as compose runs them, against databases handed to a plain
 * login by `keyturn db temporal-login`.
 */
const provided = inject('temporalServerTools');
if ('unavailable' in provided) throw new Error(`Temporal's server tools could not be built: ${provided.unavailable}`);
const tools = provided;
const adminUrl = new URL(inject('databaseUrl'));
const su = superuserPool();
const tag = `tsl_${process.pid}_${randomBytes(3).toString('hex')}`;
const login = { user: tag, password: randomBytes(24).toString('hex') };
const legacy = [`${tag}_t`, `${tag}_v`] as const;
const fresh = [`${tag}_ft`, `${tag}_fv`] as const;
const freshLogin = { user: `${tag}_f`, password: randomBytes(24).toString('hex') };
const superuser = { user: decodeURIComponent(adminUrl.username), password: decodeURIComponent(adminUrl.password) };
const root = mkdtempSync(join(tmpdir(), 'keyturn-temporal-server-'));
let server: ChildProcess | undefined;
let address = '';

function sqlTool(as: { user: string; password: string }, database: string, ...args: string[]): Promise<void> {
  const child = spawn(tools.sqlTool, ['--plugin', 'postgres12', '--ep', adminUrl.hostname, '-p', adminUrl.port, '-u', as.user, '--db', database, ...args], {
    env: { ...envForOtherPrograms(), SQL_PASSWORD: as.password },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`temporal-sql-tool ${args[0]} on ${database} as ${as.user} exited ${code}:\n${output.slice(-2000)}`))));
  });
}

/** What compose's temporal-schema job runs, on Temporal's two databases. */
async function setUpSchemas(as: { user: string; password: string }, [main, visibility]: readonly [string, string]): Promise<void> {
  await sqlTool(as, main, 'setup-schema', '-v', '0.0');
  await sqlTool(as, main, 'update-schema', '-d', join(tools.postgresSchemaDir, 'temporal', 'versioned'));
  await sqlTool(as, visibility, 'setup-schema', '-v', '0.0');
  await sqlTool(as, visibility, 'update-schema', '-d', join(tools.postgresSchemaDir, 'visibility', 'versioned'));
}

/** A free port below 32768: Temporal stores membership ports in a smallint column. */
async function freeLowPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer().once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

async function startServer([main, visibility]: readonly [string, string]): Promise<void> {
  const ports: number[] = [];
  while (ports.length < 9) {
    const port = await freeLowPort();
    if (!ports.includes(port)) ports.push(port);
  }
  const rpc = (i: number) => ({ grpcPort: ports[i], membershipPort: ports[i + 4], bindOnLocalHost: true });
  const store = (databaseName: string, maxConns: number) => ({
    sql: { pluginName: 'postgres12', databaseName, connectAddr: `${adminUrl.hostname}:${adminUrl.port}`, connectProtocol: 'tcp', user: login.user, password: login.password, maxConns, maxIdleConns: maxConns, maxConnLifetime: '1h' },
  });
  address = `127.0.0.1:${ports[0]}`;
  const config = {
    log: { stdout: true, level: 'warn' },
    persistence: { defaultStore: 'default', visibilityStore: 'visibility', numHistoryShards: 1, datastores: { default: store(main, 10), visibility: store(visibility, 2) } },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: { frontend: { rpc: { ...rpc(0), httpPort: ports[8] } }, history: { rpc: rpc(1) }, matching: { rpc: rpc(2) }, worker: { rpc: rpc(3) } },
    clusterMetadata: {
      enableGlobalNamespace: false, failoverVersionIncrement: 10, masterClusterName: 'active', currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: address } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } },
  };
  mkdirSync(join(root, 'config'), { recursive: true });
  writeFileSync(join(root, 'config', 'development.yaml'), stringify(config), { mode: 0o600 });
  const log = join(root, 'server.log');
  writeFileSync(log, '');
  server = spawn('sh', ['-c', `exec "$0" --root "$1" --config config --env development start >>"$2" 2>&1`, tools.server, root, log], { env: envForOtherPrograms() });
  for (let i = 0; i < 120; i++) {
    if (server.exitCode !== null) throw new Error(`temporal-server exited ${server.exitCode}:\n${readFileSync(log, 'utf8').slice(-3000)}`);
    const connection = await Connection.connect({ address, connectTimeout: 1000 }).catch(() => undefined);
    if (connection) {
      const serving = await connection.healthService.check({}).then((r) => r.status === 1, () => false);
      await connection.close();
      if (serving) return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`temporal-server did not serve within 60 s:\n${readFileSync(log, 'utf8').slice(-3000)}`);
}

beforeAll(async () => {
  // As compose did before temporal-db-login: Temporal's databases made and migrated by the superuser.
  for (const db of legacy) await su.query(`CREATE DATABASE "${db}"`);
  await setUpSchemas(superuser, legacy);
  await provisionTemporalLogin(adminUrl.toString(), { login: login.user, password: login.password, databases: legacy });
  await setUpSchemas(login, legacy);
  await startServer(legacy);
}, 300_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (server.exitCode === null) server.kill('SIGKILL');
  }
  for (const db of [...legacy, ...fresh]) await su.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
  for (const role of [login.user, freshLogin.user]) await su.query(`DROP ROLE IF EXISTS "${role}"`);
  await su.end();
  rmSync(root, { recursive: true, force: true });
});

describe('Temporal on databases handed over from the superuser', () => {
  it('serves a namespace and a workflow, logged in as the plain login', async () => {
    const connection = await Connection.connect({ address });
    try {
      const namespace = `${tag}-ns`;
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
      const client = new Client({ connection, namespace });
      const workflowId = `${tag}-check`;
      // A new namespace reaches the server's namespace cache within seconds.
      for (let i = 0; ; i++) {
        const started = await client.workflow.start('HandOverCheck', { taskQueue: 'nobody', workflowId }).then(() => true, (e: unknown) => {
          if (i >= 60) throw e;
          return false;
        });
        if (started) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      const handle = client.workflow.getHandle(workflowId);
      await handle.terminate('check done');
      expect((await handle.describe()).status.name).toBe('TERMINATED');
    } finally {
      await connection.close();
    }
  });

  it('opens every one of its sessions as the plain login', async () => {
    const { rows } = await su.query<{ usename: string; n: number }>('SELECT usename, count(*)::int AS n FROM pg_stat_activity WHERE datname = ANY($1) GROUP BY usename', [[...legacy]]);
    expect(rows.map((r) => r.usename)).toEqual([login.user]);
    expect(rows[0]!.n).toBeGreaterThan(0);
  });
});

describe('Temporal’s schema job on databases keyturn created', () => {
  it('sets up both schemas as the plain login, btree_gin included', async () => {
    await provisionTemporalLogin(adminUrl.toString(), { login: freshLogin.user, password: freshLogin.password, databases: fresh });
    await setUpSchemas(freshLogin, fresh);
    const url = new URL(adminUrl);
    url.pathname = `/${fresh[1]}`;
    const db = new pg.Client({ connectionString: url.toString() });
    await db.connect();
    try {
      const { rows } = await db.query<{ ext: string | null; owner: string }>(
        `SELECT (SELECT extname FROM pg_extension WHERE extname = 'btree_gin') AS ext, pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'public.executions_visibility'::regclass`,
      );
      expect(rows[0]).toEqual({ ext: 'btree_gin', owner: freshLogin.user });
    } finally {
      await db.end();
    }
  });
});
