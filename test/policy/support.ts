import { inject } from 'vitest';
import { migrate } from '../../db/migrate.js';
import { createPool, type Pool } from '../../db/pool.js';
import { pgListener } from '../../agents/planner/policy-store.js';
import { issuerWith, policyDoc } from '../../agents/planner/policy-fixtures.js';
import { superuserPool, unique } from '../support/db.js';

export interface PolicyDb {
  url: string;
  /** Acts as keyturn_app. */
  app: Pool;
  /** The login superuser. */
  su: Pool;
  /** A LISTEN connection factory on this database. */
  listener: ReturnType<typeof pgListener>;
  drop(): Promise<void>;
}

/**
 * A freshly migrated database of its own: the policy history is global (one bootstrap, one line of
 * activations), so each file starts from an empty history whatever other files do.
 */
export async function policyDatabase(): Promise<PolicyDb> {
  const name = unique('policy').replace(/[^a-z0-9_]/gi, '_').toLowerCase();
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
    listener: pgListener(url.toString(), 'keyturn-policy-test'),
    drop: async () => {
      await app.end();
      await su.end();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** A valid policy document of its own (distinct version), with `over` applied to the base issuer. */
export function docWith(over: Record<string, unknown> = {}): string {
  return policyDoc(issuerWith(over)).replace('Prose for people.', `Prose for people (${unique('doc')}).`);
}

/** Audit entries of one action, oldest first. */
export async function auditOf(db: Pool, action: string): Promise<AuditRow[]> {
  const { rows } = await db.query<AuditRow>(`SELECT policy_version, subject, details, actor FROM audit_log WHERE action = $1 ORDER BY seq`, [action]);
  return rows;
}

interface AuditRow {
  policy_version: string;
  subject: Record<string, string>;
  details: Record<string, unknown>;
  actor: Record<string, unknown>;
}

/** Polls until `fn` holds (generous bound; no timing assertion). */
export async function eventually(fn: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
