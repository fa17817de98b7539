import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../db/migrate.js';
import { startEmbeddedPostgres } from '../../infra/postgres/embedded.js';
import { startDevServer } from '../../infra/temporal/dev-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    temporalAddress: string;
    temporalUiUrl: string;
    temporalNamespace: string;
    /** A 0600 file with this run's Temporal payload key (KEYTURN_PAYLOAD_KEY_FILE in every test process). */
    payloadKeyFile: string;
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
  project.provide('payloadKeyFile', payloadKeyFile);
  project.provide('temporalAddress', temporalAddress);
  project.provide('temporalUiUrl', temporalUiUrl);
  project.provide('temporalNamespace', process.env.TEMPORAL_NAMESPACE ?? 'default');

  // Every stop runs even if an earlier one fails, so a failing Temporal stop never leaves PostgreSQL behind.
  return async () => {
    const failures: unknown[] = [];
    for (const stop of stops.reverse()) await stop().catch((e: unknown) => failures.push(e));
    if (failures.length > 0) throw new AggregateError(failures, 'test teardown: a server did not stop cleanly');
  };
}
