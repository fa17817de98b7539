import type { Command } from 'commander';
import { activePolicy, fileDiffersFromActive, findPolicyVersion, policyHistory } from '../../agents/planner/policy-store.js';
import { effectivePolicyText, loadPolicy, readPolicyText } from '../../agents/planner/policy.js';
import { startPolicyChange } from '../../client/policy.js';
import { webUiLink } from '../../client/rotations.js';
import { KeyturnError } from '../../config/errors.js';
import { withContext } from '../context.js';
import { cliStarter, requesterKeyOption } from '../approver-key.js';
import { unlinkedCliApprovers } from '../../agents/planner/people.js';
import { unreachableSignOffWarnings } from '../../agents/planner/sign-off-reach.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const policyPath = (file?: string) => file ?? (process.env.KEYTURN_POLICY || 'policy.md');

/** `keyturn policy check|apply|status|history|show`: the policy document and its gated, versioned store. */
export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description('the JWT policy: a document (policy.md) that goes live only through a signed-off change');
  policy
    .command('check [file]')
    .description('validate a policy document and print the effective policy in human units (default: $KEYTURN_POLICY or ./policy.md)')
    .action(async (file: string | undefined) => {
      const parsed = await loadPolicy(policyPath(file));
      process.stdout.write(`${effectivePolicyText(parsed)}\n`);
      for (const p of parsed.issuers) {
        const unlinked = unlinkedCliApprovers(p.approvals);
        if (unlinked.length) {
          process.stderr.write(`warning: ${p.issuer} takes approvals in Slack and from the CLI, and ${unlinked.join(', ')} ${unlinked.length > 1 ? 'are' : 'is'} not linked to a Slack id under approvals.people: someone with both ids could approve a run they requested under the other\n`);
        }
        if (!p.approvals.requireSignedStart) {
          process.stderr.write(`warning: ${p.issuer} takes unsigned starts: a run started without the requester's approver key names whoever its starter says, who could then approve it; set approvals.requireSignedStart: true to refuse them\n`);
        }
      }
      for (const w of unreachableSignOffWarnings(parsed)) process.stderr.write(`warning: ${w}\n`);
    });

  policy
    .command('apply [file]')
    .description('propose a policy document: it is validated, diffed and goes live only after sign-off')
    .requiredOption('--reason <text>', 'why; approvers see it and it is audited')
    .option('--wait', 'wait for the outcome')
    .option(...requesterKeyOption, process.env.KEYTURN_APPROVER_KEY)
    .action((file: string | undefined, opts: { reason: string; wait?: boolean; key?: string }) =>
      withContext(async (ctx) => {
        const text = await readPolicyText(policyPath(file));
        const starter = await cliStarter(opts.key);
        const client = await ctx.temporal();
        const handle = await startPolicyChange(client, {
          text, reason: opts.reason, requester: starter.requester, taskQueue: ctx.env.KEYTURN_TASK_QUEUE,
          ...(starter.signStart ? { signStart: starter.signStart } : {}),
        });
        out(`run ${handle.workflowId}`);
        out(`web ui ${webUiLink(ctx.webUiUrl(), ctx.env.TEMPORAL_NAMESPACE, handle.workflowId)}`);
        if (opts.wait) out(`result ${JSON.stringify(await handle.result())}`);
      }),
    );

  policy
    .command('status')
    .description('the active version, who approved it, and whether the policy file differs from it')
    .action(() =>
      withContext(async (ctx) => {
        const active = await activePolicy(ctx.db());
        if (!active) throw new KeyturnError('POLICY_NOT_BOOTSTRAPPED', 'no policy version is active yet', 'Start keyturn once; it bootstraps the first version from the policy file.');
        const a = active.activation;
        out(`active    ${a.version}`);
        out(`since     ${a.activatedAt}${a.bootstrap ? ' (bootstrapped from the file)' : ''}`);
        out(`approved  ${a.approvedBy.join(', ') || '-'}`);
        const path = policyPath();
        const cmp = await fileDiffersFromActive(ctx.db(), await readPolicyText(path));
        out(cmp.differs ? `file      ${path} differs (version ${cmp.fileVersion.slice(0, 12)}): it is only a proposal until \`keyturn policy apply\` is signed off` : `file      ${path} is the active version`);
      }),
    );

  policy
    .command('history')
    .description('every activated version, newest first, with its approvers')
    .action(() =>
      withContext(async (ctx) => {
        for (const h of await policyHistory(ctx.db())) {
          out(`${h.activatedAt}  ${h.version.slice(0, 12)}  ${h.status.padEnd(10)}  ${h.bootstrap ? 'bootstrap' : `approved by ${h.approvedBy.join(', ')}`}  ${h.reason}`);
        }
      }),
    );

  policy
    .command('show <version>')
    .description('print one stored version (a unique prefix of its hash is enough)')
    .action((version: string) =>
      withContext(async (ctx) => {
        const found = await findPolicyVersion(ctx.db(), version);
        if (!found) throw new KeyturnError('POLICY_VERSION_NOT_FOUND', `no stored policy version ${version}`, 'See `keyturn policy history`.');
        process.stdout.write(found.text.endsWith('\n') ? found.text : `${found.text}\n`);
      }),
    );
}
