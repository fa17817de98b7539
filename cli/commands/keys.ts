import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { kekFromEnv, readKekFile } from '../../agents/key-manager/kek.js';
import { keysByKek, resealUnderActiveKek } from '../../agents/key-manager/reseal.js';
import { listKeyRecords } from '../../agents/key-manager/store.js';
import type { KeyRecord } from '../../agents/key-manager/types.js';
import { KeyturnError } from '../../config/errors.js';
import { formatTable } from '../table.js';
import { withContext, type CliContext } from '../context.js';
import { auditContext } from './clients.js';

/** The KEK ring this command runs with: KEYTURN_KEK(_FILE), else the running dev stack's KEK file (never created here). */
function kekRing(ctx: CliContext) {
  const fromEnv = kekFromEnv();
  if (fromEnv) return fromEnv;
  const devKek = join(ctx.env.dataDir, 'kek');
  if (existsSync(devKek)) return readKekFile(devKek);
  throw new KeyturnError('KEK_MISSING', 'no key-encryption key configured', 'Set KEYTURN_KEK_FILE to the file with the new KEK on its first line and the old KEK(s) after it.');
}

/** Rows for `keys list`: identifiers, states and dates only. Private material is never read from the database. */
export function formatKeyTable(keys: KeyRecord[]): string {
  const header = ['KID', 'ISSUER', 'ALG', 'STATE', 'CREATED', 'ACTIVATED'];
  const rows = keys.map((k) => [k.kid, k.issuer, k.alg, k.state, k.createdAt, k.activatedAt ?? '-']);
  return formatTable(header, rows);
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('inspect signing keys (public data only), and reseal them after a KEK rotation');
  keys
    .command('list')
    .description('list signing keys: kid, issuer, alg, state, created, activated')
    .option('--issuer <iss>', 'only this issuer')
    .option('--json', 'machine-readable output (public JWKs included, never private keys)')
    .action((opts: { issuer?: string; json?: boolean }) =>
      withContext(async (ctx) => {
        const records = await listKeyRecords(ctx.db(), opts.issuer ? { issuer: opts.issuer } : {});
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
        } else if (records.length === 0) {
          process.stdout.write(`no keys${opts.issuer ? ` for ${opts.issuer}` : ''}\n`);
        } else {
          process.stdout.write(`${formatKeyTable(records)}\n`);
        }
      }),
    );
  keys
    .command('reseal')
    .description('after a KEK rotation: re-encrypt every private key sealed under an older KEK (later lines of the KEK file) under the new one (first line); refused while a running keyturn process cannot open the new KEK; prints kids and KEK ids only')
    .action(() =>
      withContext(async (ctx) => {
        const kek = kekRing(ctx);
        process.stdout.write(`sealing under KEK ${kek.id}\n`);
        const audit = auditContext(ctx);
        const { resealed, failed, holders } = await resealUnderActiveKek({ pool: ctx.db(), kek, appendAudit: audit.appendAudit }, { actor: audit.actor, policyVersion: audit.policyVersion });
        if (holders.length > 0) process.stdout.write(`${holders.length} running keyturn process(es) checked: each can open KEK ${kek.id} or holds none of the older KEKs\n`);
        const oldSealers = holders.filter((h) => h.sealsWith !== kek.id && kek.olderIds.includes(h.sealsWith));
        if (oldSealers.length > 0) process.stdout.write(`still sealing new keys under an older KEK: ${oldSealers.map((h) => h.holder).join(', ')}; put the new KEK first in their KEK file, restart them, and reseal again\n`);
        for (const r of resealed) process.stdout.write(`resealed ${r.kid} (${r.issuer}): KEK ${r.fromKek} → ${kek.id}\n`);
        for (const f of failed) process.stderr.write(`not resealed ${f.kid}: ${f.code} (left as it was; revoke it if it cannot be opened)\n`);
        const left = [...(await keysByKek(ctx.db())).entries()].filter(([id]) => id !== kek.id);
        process.stdout.write(`${resealed.length} key(s) resealed under KEK ${kek.id}\n`);
        if (left.length > 0) {
          process.stdout.write(`still under other KEKs: ${left.map(([id, n]) => `${n} under ${id}${kek.olderIds.includes(id) ? '' : ' (not configured here)'}`).join(', ')}\n`);
        } else if (kek.olderIds.length > 0) {
          process.stdout.write('no key is left under an older KEK: remove the older lines from the KEK file and restart keyturn\n');
        }
        if (failed.length > 0) process.exitCode = 1;
      }),
    );
}
