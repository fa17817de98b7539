import { inject } from 'vitest';
import { migrate } from '../../db/migrate.js';
import { createPool, type Pool } from '../../db/pool.js';
import type { AuditEntryInput } from '../../agents/auditor/types.js';
import { superuserPool, unique } from '../support/db.js';

export interface IsolatedDb {
  url: string;
  /** Acts as keyturn_app. */
  app: Pool;
  /** The login superuser: the attacker. */
  su: Pool;
  drop(): Promise<void>;
}

/**
 * A freshly migrated database of its own: tamper tests break the chain, which must not break
 * verify for the other test files sharing the run's database.
 */
export async function isolatedDatabase(): Promise<IsolatedDb> {
  const name = unique('audit_tamper').replace(/[^a-z0-9_]/gi, '_').toLowerCase();
  const admin = superuserPool();
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = new URL(inject('databaseUrl'));
  url.pathname = `/${name}`;
  await migrate(url.toString());
  const app = createPool(url.toString(), { max: 5 });
  const su = createPool(url.toString(), { max: 2, appRole: false });
  return {
    url: url.toString(),
    app,
    su,
    drop: async () => {
      await app.end();
      await su.end();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

export function sampleEntry(overrides: Partial<AuditEntryInput> = {}): AuditEntryInput {
  return {
    actor: { role: 'KeyManager', workflowId: unique('wf') },
    action: 'key.generate',
    subject: { kid: unique('kid') },
    policyVersion: 'v1',
    outcome: 'ok',
    details: { alg: 'EdDSA' },
    ...overrides,
  };
}
