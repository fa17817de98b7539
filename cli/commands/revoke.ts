import type { Command } from 'commander';
import { startRevocation } from '../../client/revocations.js';
import type { Client } from '@temporalio/client';
import { rotationStatus, webUiLink } from '../../client/rotations.js';
import type { RevocationResult } from '../../workflows/revocation.js';
import { KeyturnError } from '../../config/errors.js';
import { withContext } from '../context.js';
import { cliStarter, requesterKeyOption } from '../approver-key.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

export function registerRevoke(program: Command): void {
  program
    .command('revoke')
    .description('contain now, revoke on sign-off: a compromised key (--kid), one token (--jti) or a client\'s tokens (--sub)')
    .option('--kid <kid>', 'a signing key: issuance halts at once if it is active; on approval an emergency rotation replaces it')
    .option('--jti <jti>', 'one token')
    .option('--sub <client>', "a client's tokens")
    .option('--before <time>', 'with --sub: only tokens issued before this ISO-8601 time')
    .option('--issuer <iss>', 'the issuer (needed for --jti/--sub, and for a kid keyturn does not hold)')
    .requiredOption('--reason <text>', 'why; approvers see it and it is audited')
    .option(...requesterKeyOption, process.env.KEYTURN_APPROVER_KEY)
    .action((opts: { kid?: string; jti?: string; sub?: string; before?: string; issuer?: string; reason: string; key?: string }) =>
      withContext(async (ctx) => {
        const targets = (['kid', 'jti', 'sub'] as const).filter((k) => opts[k] !== undefined);
        if (targets.length !== 1) throw new KeyturnError('REVOCATION_INVALID', 'give exactly one of --kid, --jti, --sub', 'For a compromised key: keyturn revoke --kid <kid> --reason "…".');
        const kind = targets[0]!;
        if (kind !== 'kid' && !opts.issuer) {
          throw new KeyturnError('REVOCATION_INVALID', `a --${kind} revocation needs --issuer: the issuer whose tokens carry it`, 'Add --issuer <iss>; `keyturn policy show` lists the issuers.');
        }
        const starter = await cliStarter(opts.key, { emergency: true });
        const client = await ctx.temporal();
        const handle = await startRevocation(client, {
          kind, value: opts[kind]!, reason: opts.reason, requester: starter.requester, taskQueue: ctx.env.KEYTURN_TASK_QUEUE,
          ...(starter.signStart ? { signStart: starter.signStart } : {}),
          ...(opts.issuer ? { issuer: opts.issuer } : {}), ...(opts.before ? { before: opts.before } : {}),
        });
        out(`run ${handle.workflowId}`);
        const web = `web ui ${webUiLink(ctx.webUiUrl(), ctx.env.TEMPORAL_NAMESPACE, handle.workflowId)}`;
        const contained = await containment(client, handle.workflowId);
        if (contained.state === 'ended') {
          out(web);
          throw new KeyturnError('REVOCATION_NOT_CONTAINED', `the run ended without containing anything: ${contained.reason}`, `Fix the cause and revoke again; \`keyturn audit show ${handle.workflowId}\` shows what it recorded.`);
        }
        out(contained.state === 'contained'
          ? `contained at once; waiting for sign-off (keyturn approve ${handle.workflowId} --key …)`
          : `started, not contained yet (phase ${contained.phase}); follow it with keyturn status ${handle.workflowId}`);
        out(web);
      }),
    );
}

const CONFIRM_WITHIN_MS = 15_000;

/** Waits (up to 15 s) for the run to report its containment, or to end without one. */
async function containment(client: Client, workflowId: string): Promise<{ state: 'contained' } | { state: 'pending'; phase: string } | { state: 'ended'; reason: string }> {
  const until = Date.now() + CONFIRM_WITHIN_MS;
  for (;;) {
    const status = await rotationStatus(client, workflowId);
    if (status.workflowStatus !== 'RUNNING') {
      const result = status.workflowStatus === 'COMPLETED' ? ((await client.workflow.getHandle(workflowId).result()) as RevocationResult) : undefined;
      if (result && result.outcome !== 'failed') return { state: 'contained' };
      return { state: 'ended', reason: result?.reason ?? status.workflowStatus.toLowerCase() };
    }
    if (status.phase !== 'planning' && status.phase !== 'containing') return { state: 'contained' };
    if (Date.now() > until) return { state: 'pending', phase: status.phase };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
