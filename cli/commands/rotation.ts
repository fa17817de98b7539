import type { Command } from 'commander';
import { signAttestation, type Decision } from '../../agents/approvals/attestation.js';
import { disableChannelKey, generateChannelKey, listChannelKeys, registerChannelKey } from '../../agents/approvals/channel-keys.js';
import { KeyturnError } from '../../config/errors.js';
import { rotationStatus, startRotation, webUiLink } from '../../client/rotations.js';
import { createSlackChannelKey } from '../../slack/temporal-port.js';
import { cliStarter, readApproverKey, requesterKeyOption, writeApproverKey } from '../approver-key.js';
import { groupNeeds } from '../../agents/approvals/quorum.js';
import { withContext, type CliContext } from '../context.js';
import { auditContext } from './clients.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

export function registerRotation(program: Command): void {
  program
    .command('rotate')
    .description('start a key rotation run; it waits for sign-off')
    .requiredOption('--issuer <iss>', 'issuer URL, exactly as in the policy')
    .requiredOption('--reason <text>', 'why; shown to approvers and audited')
    .option('--wait', 'follow the run until it ends')
    .option(...requesterKeyOption, process.env.KEYTURN_APPROVER_KEY)
    .action((opts: { issuer: string; reason: string; wait?: boolean; key?: string }) =>
      withContext(async (ctx) => {
        const starter = await cliStarter(opts.key);
        const client = await ctx.temporal();
        const handle = await startRotation(client, {
          issuer: opts.issuer, reason: opts.reason, requester: { kind: 'cli', id: starter.requester }, taskQueue: ctx.env.KEYTURN_TASK_QUEUE,
          ...(starter.signStart ? { signStart: starter.signStart } : {}),
        });
        out(`run ${handle.workflowId}`);
        out(`web ui ${webUiLink(ctx.webUiUrl(), ctx.env.TEMPORAL_NAMESPACE, handle.workflowId)}`);
        if (opts.wait) await follow(ctx, handle.workflowId);
      }),
    );

  program
    .command('status [run]')
    .description('show a run (phase, plan, approvals, deadlines), or list recent runs')
    .option('--json', 'machine-readable output')
    .action((run: string | undefined, opts: { json?: boolean }) =>
      withContext(async (ctx) => {
        const client = await ctx.temporal();
        if (!run) {
          for await (const wf of client.workflow.list({ query: "WorkflowType = 'rotationWorkflow' OR WorkflowType = 'revocationWorkflow'" })) {
            out(`${wf.workflowId}  ${wf.status.name}  ${wf.startTime.toISOString()}`);
          }
          return;
        }
        const s = await rotationStatus(client, run);
        if (opts.json) {
          out(JSON.stringify(s, null, 2));
          return;
        }
        out(`run       ${run} (${s.workflowStatus})`);
        out(`phase     ${s.phase}`);
        if (s.planHash) out(`plan      ${s.planHash.slice(0, 12)}`);
        out(`approvals ${s.approvals.length ? s.approvals.map((v) => `${v.approver}:${v.decision}`).join(', ') : 'none yet'}${s.signOff?.groups?.length ? ` (needs ${groupNeeds(s.signOff.groups)})` : s.quorum ? ` (quorum ${s.quorum})` : ''}`);
        for (const [k, v] of Object.entries(s.deadlines)) out(`${k.padEnd(9)} ${v}`);
        if (s.undeliveredNotices?.length) out(`not told  ${s.undeliveredNotices.join(', ')} (notices that could not be delivered)`);
      }),
    );

  for (const decision of ['approve', 'reject', 'rollback'] as const) {
    program
      .command(`${decision} <run>`)
      .description(`${decision} a run through the CLI approval channel (the policy must allow \`cli\`)`)
      .requiredOption('--key <file>', 'your approver key file (0600)', process.env.KEYTURN_APPROVER_KEY)
      .option('--reason <text>', 'why (required to reject or roll back)')
      .option('--plan <hash>', 'the plan hash (or its first 12+ characters) you reviewed, from `keyturn status <run>`; refused if the run\'s plan is another')
      .action((run: string, opts: { key: string; reason?: string; plan?: string }) =>
        withContext(async (ctx) => {
          if (decision !== 'approve' && !opts.reason) throw new KeyturnError('REASON_REQUIRED', `${decision} needs --reason`, 'Say why; it is shown to the requester and audited.');
          await signAndSignal(ctx, run, decision, opts.key, opts.reason, opts.plan);
          out(`${decision} sent for ${run}; the workflow verifies it before it counts (see \`keyturn status ${run}\`)`);
        }),
      );
  }

  const approvers = program.command('approvers').description('manage approval channel keys');
  approvers
    .command('add-slack-key')
    .description("create the Slack app's attestation key (private half to a 0600 file for KEYTURN_SLACK_KEY_FILE, public half registered)")
    .requiredOption('--out <file>', 'where to write the private key (must not exist)')
    .action((opts: { out: string }) =>
      withContext(async (ctx) => {
        const { kid } = await createSlackChannelKey(ctx.adminDb('registering an approval key'), opts.out, auditContext(ctx));
        out(`Slack attestation key ${kid} written to ${opts.out} (0600); set KEYTURN_SLACK_KEY_FILE=${opts.out} for the HTTP service`);
      }),
    );
  approvers
    .command('add-cli-key <approver>')
    .description('create a CLI approver key (private half to a 0600 file, public half registered)')
    .requiredOption('--out <file>', 'where to write the private key (must not exist)')
    .action((approver: string, opts: { out: string }) =>
      withContext(async (ctx) => {
        const key = await generateChannelKey();
        await registerChannelKey(ctx.adminDb('registering an approval key'), { kid: key.kid, channel: 'cli', approver, publicJwk: key.publicJwk }, auditContext(ctx));
        await writeApproverKey(opts.out, { approver, kid: key.kid, privateJwk: key.privateJwk });
        out(`approver ${approver} key ${key.kid} written to ${opts.out} (0600); list ${approver} in the policy's approvers`);
      }),
    );
  approvers
    .command('list')
    .description('list the approval channel keys: kid, channel, approver, created, disabled (never key material)')
    .action(() =>
      withContext(async (ctx) => {
        for (const k of await listChannelKeys(ctx.db())) {
          out(`${k.kid}  ${k.channel}  ${k.approver ?? '-'}  ${k.createdAt}  ${k.disabledAt ? `disabled ${k.disabledAt}` : 'enabled'}`);
        }
      }),
    );
  approvers
    .command('disable <kid>')
    .description('disable an approval channel key for good (lost key, departed approver); audited')
    // A kid is a base64url thumbprint: one in 64 starts with "-", which must be taken as the kid, not an option.
    .allowUnknownOption()
    .action((kid: string) =>
      withContext(async (ctx) => {
        const k = await disableChannelKey(ctx.db(), kid, auditContext(ctx));
        out(`key ${k.kid} (${k.channel}${k.approver ? ` ${k.approver}` : ''}) disabled: its attestations no longer count`);
      }),
    );
}

async function signAndSignal(ctx: CliContext, run: string, decision: Decision, keyFile: string | undefined, reason?: string, reviewedPlan?: string): Promise<void> {
  if (!keyFile) throw new KeyturnError('APPROVER_KEY_REQUIRED', 'no approver key given', 'Pass --key <file> or set KEYTURN_APPROVER_KEY.');
  if (reviewedPlan !== undefined && !/^[0-9a-f]{12,64}$/.test(reviewedPlan)) {
    throw new KeyturnError('PLAN_HASH_INVALID', '--plan takes the plan hash in hex, at least its first 12 characters', 'Copy it from `keyturn status <run>`.');
  }
  const key = await readApproverKey(keyFile);
  const client = await ctx.temporal();
  const status = await rotationStatus(client, run);
  if (status.workflowStatus !== 'RUNNING') throw new KeyturnError('RUN_NOT_WAITING', `run ${run} is ${status.workflowStatus.toLowerCase()}`, 'Nothing to decide.');
  if (!status.planHash) throw new KeyturnError('RUN_NOT_WAITING', `run ${run} has no plan yet`, 'Try again in a moment.');
  if (reviewedPlan !== undefined && !status.planHash.startsWith(reviewedPlan)) {
    throw new KeyturnError('PLAN_CHANGED', `run ${run} now carries plan ${status.planHash.slice(0, 12)}, not the ${reviewedPlan.slice(0, 12)} you reviewed`, 'Review it again with `keyturn status <run>`; nothing was signed.');
  }
  // Say what is being signed: the attestation binds this run and this plan, whatever the person meant.
  out(`signing ${decision} for run ${run} (run id ${status.runId}), phase ${status.phase}, plan ${status.planHash.slice(0, 12)}, as ${key.approver}`);
  const attestation = await signAttestation(
    { channel: 'cli', approver: key.approver, decision, workflowId: run, runId: status.runId, planHash: status.planHash, ...(reason ? { reason } : {}) },
    { kid: key.kid, privateJwk: key.privateJwk },
  );
  await client.workflow.getHandle(run, status.runId).signal(decision, { attestation });
}

async function follow(ctx: CliContext, workflowId: string): Promise<void> {
  const client = await ctx.temporal();
  let last = '';
  for (;;) {
    const s = await rotationStatus(client, workflowId);
    const line = `${s.phase}${s.approvals.length ? ` approvals=${s.approvals.length}` : ''}`;
    if (line !== last) out(`${new Date().toISOString()} ${line}`);
    last = line;
    if (s.workflowStatus !== 'RUNNING') {
      const result = await client.workflow.getHandle(workflowId).result();
      out(`result ${JSON.stringify(result)}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
