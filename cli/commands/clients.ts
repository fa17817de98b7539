import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { activePolicy } from '../../agents/planner/policy-store.js';
import type { Queryable } from '../../agents/shared/db.js';
import { addClient, assertAudiences, disableClient, listClients, rotateSecret, setAudiences, setIntrospection, type ClientRecord } from '../../agents/token-issuer/clients.js';
import { KeyturnError } from '../../config/errors.js';
import type { AuditContext } from '../../agents/token-issuer/tx.js';
import { listOf, listOrAll } from '../list-args.js';
import { formatTable } from '../table.js';
import { withContext, type CliContext } from '../context.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const warn = (line: string) => process.stderr.write(`${line}\n`);

/** Registry changes are audited as the CLI user, under the sha256 of the policy file in force (`none` without one). */
export function auditContext(ctx: CliContext): AuditContext {
  let policyVersion = 'none';
  try {
    policyVersion = createHash('sha256').update(readFileSync(ctx.env.KEYTURN_POLICY)).digest('hex');
  } catch {
    // No policy file here: the entry still records who changed what.
  }
  return { appendAudit, actor: { role: 'Human', cliUser: `cli:${userInfo().username}` }, policyVersion };
}

/** `CLIENT  SCOPES  TENANT  AUDIENCES  STATUS  INTROSPECTS  CREATED  SECRET ROTATED`: never a secret or hash. */
export function formatClientTable(clients: ClientRecord[]): string {
  const header = ['CLIENT', 'SCOPES', 'TENANT', 'AUDIENCES', 'STATUS', 'INTROSPECTS', 'CREATED', 'SECRET ROTATED'];
  const rows = clients.map((c) => [c.clientId, c.scopes.join(' '), c.tenant ?? '-', c.audiences?.join(',') ?? "all of the issuer's", c.disabled ? 'disabled' : 'enabled', c.mayIntrospect ? 'any token' : 'own tokens', c.createdAt, c.secretRotatedAt ?? '-']);
  return formatTable(header, rows);
}


/**
 * Audiences no issuer of the policy in force serves get the client no token. All of them unserved is
 * refused (most likely a typo: the client would get no token at all); some is warned about, as an
 * audience may be given to a client before the policy change that serves it is signed off.
 */
async function checkServed(db: Queryable, audiences: string[]): Promise<void> {
  assertAudiences(audiences);
  const active = await activePolicy(db);
  if (!active) {
    warn('warning: no keyturn policy is in force yet, so these audiences were not checked against it.');
    return;
  }
  const served = [...new Set(active.policy.issuers.flatMap((i) => i.audiences))];
  const unserved = audiences.filter((a) => !served.includes(a));
  if (unserved.length === audiences.length) {
    throw new KeyturnError('CLIENT_INVALID', `no issuer of the policy in force serves ${unserved.join(', ')}: the client would get no token`, `Use audiences the policy lists (${served.join(', ')}), or add them to the policy first.`);
  }
  if (unserved.length > 0) warn(`warning: no issuer of the policy in force serves ${unserved.join(', ')}; the client gets tokens for its other audiences only until one does.`);
}

function printSecret(clientId: string, secret: string): void {
  out(`client_id:     ${clientId}`);
  out(`client_secret: ${secret}`);
  warn('warning: store this secret now (e.g. in your secret manager); keyturn keeps only its hash and cannot show it again.');
}

export function registerClients(program: Command): void {
  const clients = program.command('clients').description('manage OAuth clients of the token endpoint (client_credentials)');

  clients
    .command('add <id>')
    .description('register a client; prints its secret once')
    .requiredOption('--scopes <list>', 'comma-separated scopes the client may request, e.g. read,write')
    .option('--tenant <tenant>', 'tenant claim put in its tokens')
    .option('--introspect', 'may introspect tokens issued to other clients (a resource server); every client may introspect its own')
    .option('--audiences <list>', "comma-separated audiences its tokens may carry (of those its issuer serves); default: all of the issuer's")
    .action((id: string, opts: { scopes: string; tenant?: string; introspect?: boolean; audiences?: string }) =>
      withContext(async (ctx) => {
        const scopes = listOf(opts.scopes);
        const audiences = opts.audiences === undefined ? undefined : listOf(opts.audiences);
        if (audiences) await checkServed(ctx.db(), audiences);
        const created = await addClient(ctx.db(), { clientId: id, scopes, ...(opts.tenant !== undefined ? { tenant: opts.tenant } : {}), mayIntrospect: opts.introspect === true, ...(audiences ? { audiences } : {}) }, auditContext(ctx));
        out(`added client ${created.clientId} (scopes: ${scopes.join(' ')}${opts.tenant ? `, tenant: ${opts.tenant}` : ''}${audiences ? `, audiences: ${audiences.join(',')}` : ''}${opts.introspect ? ', introspects any token' : ''})`);
        printSecret(created.clientId, created.secret);
      }),
    );

  clients
    .command('list')
    .description('list clients: id, scopes, tenant, status, dates (never secrets)')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) =>
      withContext(async (ctx) => {
        const records = await listClients(ctx.db());
        if (opts.json) out(JSON.stringify(records, null, 2));
        else out(records.length === 0 ? 'no clients' : formatClientTable(records));
      }),
    );

  clients
    .command('disable <id>')
    .description('disable a client: it can no longer get tokens (revoke its live tokens separately)')
    .action((id: string) =>
      withContext(async (ctx) => {
        await disableClient(ctx.db(), id, auditContext(ctx));
        out(`disabled client ${id}`);
      }),
    );

  const introspection = [
    { command: 'allow-introspection', allowed: true, description: 'let a client introspect tokens issued to other clients (within its tenant, if it has one)', said: 'may now introspect tokens of other clients' },
    { command: 'deny-introspection', allowed: false, description: 'let a client introspect only its own tokens again (the default)', said: 'may now introspect only its own tokens' },
  ];
  for (const c of introspection) {
    clients
      .command(`${c.command} <id>`)
      .description(c.description)
      .action((id: string) =>
        withContext(async (ctx) => {
          await setIntrospection(ctx.db(), id, c.allowed, auditContext(ctx));
          out(`client ${id} ${c.said}`);
        }),
      );
  }

  clients
    .command('set-audiences <id> [audiences]')
    .description("limit the audiences a client's tokens may carry (comma-separated, of those its issuer serves), or give it all of them again with --all")
    .option('--all', "every audience of the client's issuer (the default for a new client)")
    .action((id: string, list: string | undefined, opts: { all?: boolean }) =>
      withContext(async (ctx) => {
        const audiences = listOrAll(list, opts.all, 'audiences', 'keyturn clients set-audiences billing-api https://api.example.com');
        if (audiences) await checkServed(ctx.db(), audiences);
        const updated = await setAudiences(ctx.db(), id, audiences, auditContext(ctx));
        out(`client ${id} may now get tokens for ${updated.audiences ? `these audiences of its issuer: ${updated.audiences.join(',')}` : 'every audience of its issuer'}`);
      }),
    );

  clients
    .command('rotate-secret <id>')
    .description('replace a client secret; the old one stops working at once. Prints the new one once')
    .action((id: string) =>
      withContext(async (ctx) => {
        const { secret } = await rotateSecret(ctx.db(), id, auditContext(ctx));
        out(`rotated the secret of client ${id}`);
        printSecret(id, secret);
      }),
    );
}
