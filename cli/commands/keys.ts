import type { Command } from 'commander';
import { listKeyRecords } from '../../agents/key-manager/store.js';
import type { KeyRecord } from '../../agents/key-manager/types.js';
import { withContext } from '../context.js';

/** Rows for `keys list`: identifiers, states and dates only. Private material is never read from the database. */
export function formatKeyTable(keys: KeyRecord[]): string {
  const header = ['KID', 'ISSUER', 'ALG', 'STATE', 'CREATED', 'ACTIVATED'];
  const rows = keys.map((k) => [k.kid, k.issuer, k.alg, k.state, k.createdAt, k.activatedAt ?? '-']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('inspect signing keys (public data only)');
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
}
