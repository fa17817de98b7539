import type { Command } from 'commander';
import { effectivePolicyText, loadPolicy } from '../../agents/planner/policy.js';

/** `keyturn policy check [file]`: validate a policy document and print the effective policy. */
export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description('the JWT policy document (policy.md)');
  policy
    .command('check [file]')
    .description('validate a policy document and print the effective policy in human units (default: $KEYTURN_POLICY or ./policy.md)')
    .action(async (file: string | undefined) => {
      const path = file ?? (process.env.KEYTURN_POLICY || 'policy.md');
      const parsed = await loadPolicy(path);
      process.stdout.write(`${effectivePolicyText(parsed)}\n`);
    });
}
