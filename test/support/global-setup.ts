import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../db/migrate.js';
import { createPool } from '../../db/pool.js';
import { provisionRuntimeLogin } from '../../db/runtime-login.js';
import { urlAs } from './login-url.js';
import { startEmbeddedPostgres } from '../../infra/postgres/embedded.js';
import { startDevServer } from '../../infra/temporal/dev-server.js';
import { isKeyturnError } from '../../config/errors.js';
import { ensureTemporalServerTools, type TemporalServerTools } from './temporal-server-tools.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    /** A login that is only keyturn_app, as production processes get (KEYTURN_MIGRATIONS=check). */
    runtimeLogin: { user: string; password: string };
    temporalAddress: string;
    temporalUiUrl: string;
    temporalNamespace: string;
    /** A 0600 file with this run's Temporal payload key (KEYTURN_PAYLOAD_KEY_FILE in every test process). */
    payloadKeyFile: string;
    /** Temporal's standalone server and SQL tool, for the tests that run it on PostgreSQL as compose does. */
    temporalServerTools: TemporalServerTools | { unavailable: string };
  }
}

/**
 * One real PostgreSQL and one real Temporal dev server (in-memory) for the whole run, shared by all
 * test files; DATABASE_URL and TEMPORAL_ADDRESS replace them when given.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<void>> = [];
  const say = (l: string) => process.stderr.write(`${l}\n`);

  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const pg = await startEmbeddedPostgres();
    stops.push(pg.stop);
    databaseUrl = pg.url;
  }
  await migrate(databaseUrl);
  const runtimeLogin = await createRuntimeLogin(databaseUrl, stops);

  let temporalAddress = process.env.TEMPORAL_ADDRESS;
  let temporalUiUrl = process.env.KEYTURN_TEMPORAL_UI_URL ?? '';
  if (!temporalAddress) {
    const server = await startDevServer({ say });
    stops.push(server.stop);
    temporalAddress = server.address;
    temporalUiUrl = server.uiUrl;
  }

  const keyDir = mkdtempSync(join(tmpdir(), 'keyturn-test-keys-'));
  const payloadKeyFile = process.env.KEYTURN_PAYLOAD_KEY_FILE ?? join(keyDir, 'payload-key');
  if (!process.env.KEYTURN_PAYLOAD_KEY_FILE) writeFileSync(payloadKeyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  stops.unshift(async () => rmSync(keyDir, { recursive: true, force: true }));

  project.provide('databaseUrl', databaseUrl);
  project.provide('runtimeLogin', runtimeLogin);
  project.provide('payloadKeyFile', payloadKeyFile);
  project.provide('temporalAddress', temporalAddress);
  project.provide('temporalUiUrl', temporalUiUrl);
  // Without Go only the tests that need these fail (saying why), not the whole run.
  project.provide('temporalServerTools', await ensureTemporalServerTools(say).catch((e: unknown) => {
    if (!isKeyturnError(e, 'GO_MISSING')) throw e;
    return { unavailable: e.message };
  }));
  project.provide('temporalNamespace', process.env.TEMPORAL_NAMESPACE ?? 'default');

  // Every stop runs even if an earlier one fails, so a failing Temporal stop never leaves PostgreSQL behind.
  return async () => {
    const failures: unknown[] = [];
    for (const stop of stops.reverse()) await stop().catch((e: unknown) => failures.push(e));
    if (failures.length > 0) throw new AggregateError(failures, 'test teardown: a server did not stop cleanly');
  };
}

/** A runtime login of this run's own (roles are cluster-wide), dropped at teardown. */
async function createRuntimeLogin(databaseUrl: string, stops: Array<() => Promise<void>>): Promise<{ user: string; password: string }> {
  const login = { user: `keyturn_rt_${process.pid}_${Date.now().toString(36)}`, password: randomBytes(24).toString('hex') };
  const admin = createPool(databaseUrl, { max: 1, appRole: false });
  await provisionRuntimeLogin(admin, urlAs(databaseUrl, login));
  stops.push(async () => {
    try {
      await admin.query(`DROP ROLE IF EXISTS "${login.user}"`);
    } finally {
      await admin.end();
    }
  });
  return login;
}
