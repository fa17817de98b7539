import type { Command } from 'commander';
import { doctorWorkflow } from '../../workflows/doctor.js';
import { withContext } from '../context.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('run an end-to-end self-check: a workflow whose worker writes one row to PostgreSQL')
    .action(() =>
      withContext(async (ctx) => {
        const client = await ctx.temporal();
        const workflowId = `doctor-${Date.now()}`;
        const result = await client.workflow.execute(doctorWorkflow, {
          workflowId,
          taskQueue: ctx.env.KEYTURN_TASK_QUEUE,
          args: ['keyturn doctor'],
          workflowExecutionTimeout: '1 minute',
        });
        process.stdout.write(`ok: workflow ${workflowId} wrote probe row ${result.probeId}\n`);
      }),
    );
}
