import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { loadPolicy } from '../../agents/planner/policy.js';
import { listSchedules, onSchedule } from '../../client/schedules.js';
import { withContext } from '../context.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

export function registerSchedule(program: Command): void {
  const schedule = program.command('schedule').description("manage each issuer's rotation schedule (one per issuer, from the policy's rotationPeriod)");

  schedule
    .command('list')
    .description('every issuer schedule: period, paused or not, next and last run')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) =>
      withContext(async (ctx) => {
        const rows = await listSchedules(await ctx.temporal(), await loadPolicy(ctx.env.KEYTURN_POLICY));
        if (opts.json) out(JSON.stringify(rows, null, 2));
        else if (!rows.length) out('no rotation schedules yet (the worker creates them at start)');
        else for (const r of rows) {
          out(`${r.issuer}  every ${r.every}  ${r.paused ? `PAUSED${r.note ? ` (${r.note})` : ''}` : 'active'}  next ${r.nextRun ?? '-'}  last ${r.lastRun ?? '-'}`);
        }
      }),
    );

  schedule
    .command('pause <issuer>')
    .description('stop scheduled rotations of an issuer (manual `keyturn rotate` still works)')
    .requiredOption('--reason <text>', 'why; kept as the schedule note')
    .action((issuer: string, opts: { reason: string }) =>
      withContext(async (ctx) => {
        await onSchedule(await ctx.temporal(), issuer, (h) => h.pause(`${opts.reason} (by cli:${userInfo().username})`));
        out(`paused the rotation schedule of ${issuer}`);
      }),
    );

  schedule
    .command('resume <issuer>')
    .description('resume scheduled rotations of an issuer')
    .action((issuer: string) =>
      withContext(async (ctx) => {
        await onSchedule(await ctx.temporal(), issuer, (h) => h.unpause(`resumed by cli:${userInfo().username}`));
        out(`resumed the rotation schedule of ${issuer}`);
      }),
    );

  schedule
    .command('trigger <issuer>')
    .description('start the scheduled rotation now (skipped if one is already in flight); it still waits for sign-off')
    .action((issuer: string) =>
      withContext(async (ctx) => {
        await onSchedule(await ctx.temporal(), issuer, (h) => h.trigger());
        out(`triggered the rotation schedule of ${issuer}; follow it with \`keyturn status\``);
      }),
    );
}
