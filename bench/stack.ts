import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JWK } from 'jose';
import { issuerWith, policyDoc } from '../agents/planner/policy-fixtures.js';
import { loadPolicy } from '../agents/planner/policy.js';
import type { IssuerPolicy, Policy, SigningAlgorithm } from '../agents/planner/policy-types.js';
import { addClient } from '../agents/token-issuer/clients.js';
import { TokenIssuer } from '../agents/token-issuer/token-issuer.js';
import { pgListener, RevocationCache } from '../agents/validator/revocation-list.js';
import { migrate } from '../db/migrate.js';
import { createPool, type Pool } from '../db/pool.js';
import { createLogger } from '../infra/log/logger.js';
import { freePort } from '../infra/net.js';
import { startEmbeddedPostgres } from '../infra/postgres/embedded.js';
import { createKeyturnHttp, type KeyturnHttp } from '../workers/http-app.js';
import { createServices, type Services } from '../workers/services.js';
import type { LoadJob, LoadReady, LoadResult } from './load.js';
import type { Timing } from './measure.js';

export const ALGORITHMS: readonly SigningAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];
export const AUDIENCE = 'https://api.bench.keyturn.test';

export interface IssuerSetup {
  alg: SigningAlgorithm;
  issuer: string;
  policy: IssuerPolicy;
  kid: string;
  /** The published public JWK of the active key. */
  publicJwk: JWK;
  /** A keyturn HTTP service whose /oauth2/token issues under this issuer (its first in the policy). */
  http: KeyturnHttp;
  httpUrl: string;
}

/** Talks to the load-generator child process (bench/load.ts). */
export interface LoadClient {
  /** The HTTP client the generator uses (undici when installed, else node:http). */
  client: string;
  run(job: Omit<LoadJob, 'id'>): Promise<LoadResult>;
  stop(): void;
}

export interface BenchStack {
  databaseUrl: string;
  pool: Pool;
  services: Services;
  policy: Policy;
  /** An in-process TokenIssuer (the HTTP services have their own, on the same pool). */
  tokenIssuer: TokenIssuer;
  client: { clientId: string; secret: string };
  /** `Basic …` for the registered client. */
  basicAuth: string;
  issuers: Map<SigningAlgorithm, IssuerSetup>;
  /** A started RevocationCache (PostgreSQL + LISTEN/NOTIFY) for in-process validators. */
  revocations: RevocationCache;
  load: LoadClient;
  stop(): Promise<void>;
}

/** What every row group gets. */
export interface BenchContext {
  stack: BenchStack;
  timing: Timing;
  /** Keep-alive connections of the HTTP load generator. */
  connections: number;
  /** Quick smoke run: smaller pools of never-seen tokens. */
  quick: boolean;
  say: (line: string) => void;
}

function startLoadClient(): Promise<LoadClient> {
  const path = join(dirname(fileURLToPath(import.meta.url)), 'load.ts');
  // The child inherits this process's execArgv (tsx's loader flags), so it runs the .ts directly.
  const child: ChildProcess = fork(path, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let next = 1;
  const waiting = new Map<number, (r: LoadResult) => void>();
  child.on('message', (m: LoadResult | LoadReady) => {
    if ('id' in m) {
      waiting.get(m.id)?.(m);
      waiting.delete(m.id);
    }
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the load generator exited early (${code})`)));
    child.once('message', (ready: LoadReady) =>
      resolve({
        client: ready.client,
        run: (job) =>
          new Promise((res) => {
            const id = next++;
            waiting.set(id, res);
            child.send({ ...job, id } satisfies LoadJob);
          }),
        stop: () => {
          if (child.connected) child.send({ stop: true });
          child.removeAllListeners('exit');
          if (child.exitCode === null) child.kill();
        },
      }),
    );
  });
}

/**
 * One keyturn deployment for the benchmark: embedded PostgreSQL (migrated), the services, one issuer
 * per algorithm with an active key, a registered client, one HTTP service per issuer, a started
 * revocation cache and the load-generator child. Temporal is not needed for these rows.
 */
export async function startBenchStack(say: (line: string) => void): Promise<BenchStack> {
  const stops: Array<() => Promise<void> | void> = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await Promise.resolve(s()).catch(() => {});
  };
  try {
    say('starting embedded PostgreSQL…');
    const pg = await startEmbeddedPostgres();
    stops.push(pg.stop);
    await migrate(pg.url);
    const dataDir = mkdtempSync(join(tmpdir(), 'keyturn-bench-'));
    stops.push(() => rmSync(dataDir, { recursive: true, force: true }));

    const run = `${process.pid}-${Date.now().toString(36)}`;
    const entries = ALGORITHMS.map((alg) =>
      issuerWith({ issuer: `http://localhost/bench-${alg.toLowerCase()}-${run}`, audiences: [AUDIENCE], algorithm: alg, accessTokenTtl: '30m', postRetireOverlap: '1h' }),
    );
    const policyPath = join(dataDir, 'policy.md');
    writeFileSync(policyPath, policyDoc(...entries));
    const policy = await loadPolicy(policyPath);

    const pool = createPool(pg.url, { max: 24 });
    stops.push(() => pool.end());
    const services = await createServices({ pool, devDataDir: dataDir, warn: () => {} });
    const km = services.keyManager;
    const actor = { role: 'Human' as const, cliUser: 'bench' };

    say('generating one signing key per algorithm…');
    const keys = new Map<SigningAlgorithm, { kid: string; publicJwk: JWK }>();
    for (const ip of policy.issuers) {
      const gen = await km.generateKey({ issuer: ip.issuer, alg: ip.algorithm, requestId: `bench-gen-${ip.algorithm}-${run}`, policyVersion: policy.version, actor });
      await km.activate({ issuer: ip.issuer, kid: gen.kid, requestId: `bench-act-${ip.algorithm}-${run}`, policyVersion: policy.version, actor });
      const { keys: published } = await km.jwks(ip.issuer);
      const publicJwk = published.find((k) => k.kid === gen.kid);
      if (!publicJwk) throw new Error(`key ${gen.kid} is not published`);
      keys.set(ip.algorithm, { kid: gen.kid, publicJwk });
    }
    // It also stands for the resource servers' client: introspecting tokens it was not issued needs the grant.
    const client = await addClient(pool, { clientId: `bench-${run}`, scopes: ['read', 'write'], mayIntrospect: true });
    const basicAuth = `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}`;
    const tokenIssuer = new TokenIssuer({ pool, signer: km, appendAudit: services.appendAudit, clock: services.clock, policy: () => policy });

    say('starting the HTTP services…');
    const log = createLogger({ name: 'bench', level: 'error' });
    const issuers = new Map<SigningAlgorithm, IssuerSetup>();
    for (const ip of policy.issuers) {
      // /oauth2/token issues under the policy's first issuer: one service per issuer, its issuer first.
      const ordered: Policy = { version: policy.version, issuers: [ip, ...policy.issuers.filter((p) => p !== ip)] };
      const port = await freePort();
      const httpUrl = `http://127.0.0.1:${port}`;
      const http = await createKeyturnHttp({ services, databaseUrl: pg.url, policy: () => ordered, publicUrl: httpUrl, temporalHealthy: async () => {}, log });
      stops.push(() => http.close());
      await http.app.listen({ host: '127.0.0.1', port });
      const k = keys.get(ip.algorithm)!;
      issuers.set(ip.algorithm, { alg: ip.algorithm, issuer: ip.issuer, policy: ip, kid: k.kid, publicJwk: k.publicJwk, http, httpUrl });
    }

    const revocations = new RevocationCache({
      db: pool,
      connectListener: pgListener(pg.url, 'keyturn-bench-revocations'),
      freshnessSeconds: Math.min(...policy.issuers.map((p) => p.revocationFreshnessSeconds)),
    });
    await revocations.start();
    stops.push(() => revocations.close());

    const load = await startLoadClient();
    stops.push(() => load.stop());

    return { databaseUrl: pg.url, pool, services, policy, tokenIssuer, client, basicAuth, issuers, revocations, load, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** Runs one HTTP load job with the context's timing and connections; the note reports failed requests. */
export async function measureHttp(
  ctx: BenchContext,
  job: Pick<LoadJob, 'url' | 'method' | 'headers' | 'body' | 'bodies' | 'expectStatus' | 'expectBody'>,
): Promise<HttpMeasured> {
  const cpu = process.cpuUsage();
  const r = await ctx.stack.load.run({
    ...job,
    connections: ctx.connections,
    warmupMs: ctx.timing.warmupSeconds * 1000,
    durationMs: ctx.timing.seconds * 1000,
  });
  const used = process.cpuUsage(cpu);
  // CPU of this process (the servers under test; PostgreSQL is not in it) per request.
  const serverCpuMicros = r.totalRequests > 0 ? (used.user + used.system) / r.totalRequests : 0;
  const small = [...(r.ok < 50 ? [`n=${r.ok}`] : []), ...(r.exhausted ? [`${job.bodies?.length ?? 0} bodies ran out: n=${r.ok} in ${r.elapsedMs.toFixed(0)} ms`] : [])];
  const failed = r.errors > 0 ? [`${r.errors} failed requests (first: ${r.firstError ?? '?'})`] : [];
  const saturated = generatorSaturated(r.generatorCores);
  const notes = [cpuNote(serverCpuMicros), ...small, ...(saturated ? [`load generator used ${percent(r.generatorCores)}% of a core: may be the bottleneck`] : []), ...failed];
  return { opsPerSec: r.opsPerSec, note: notes.join('; '), serverCpuMicros, generatorCores: r.generatorCores, problems: [...small, ...failed] };
}

export interface HttpMeasured {
  opsPerSec: number;
  note: string;
  serverCpuMicros: number;
  /** CPU the load generator used, in cores. */
  generatorCores: number;
  /** Notes on the sample itself (too small, failed requests), without the CPU and generator figures. */
  problems: string[];
}

/** Above this share of a core, the load generator may be what limits the figure. */
export const generatorSaturated = (cores: number): boolean => cores > 0.9;
export const percent = (cores: number): string => (cores * 100).toFixed(0);

export function cpuNote(micros: number): string {
  return `server CPU ${micros >= 100 ? micros.toFixed(0) : micros.toFixed(1)} µs/req`;
}
