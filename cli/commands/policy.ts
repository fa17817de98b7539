import type { Command } from 'commander';
import { effectivePolicyText, loadPolicy } from '../../agents/planner/policy.js';

export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description('the JWT policy document');
  policy
    .command('check [file]')
    .description('validate a policy document and print the effective policy')
    .action(async (file: string | undefined) => {
      const p = await loadPolicy(file ?? process.env.KEYTURN_POLICY ?? 'policy.md');
      process.stdout.write(`${effectivePolicyText(p)}\n`);
    });
}
