import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TokenIssuer } from '../agents/token-issuer/token-issuer.js';
import { revoke } from '../agents/validator/revocation-list.js';
import { startRevocation } from '../client/revocations.js';
import { startRotation } from '../client/rotations.js';
import { statusQuery } from '../workflows/rotation.js';
import { jwksUrlFor } from '../workers/bootstrap.js';
import type { BenchContext } from './stack.js';
import type { Row } from './table.js';
import { percentile, startWorkflowBench } from './workflows.js';

/** One relying-party process (bench/relying-party.ts), answering one line per command. */
function relyingParty(env: NodeJS.ProcessEnv) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(dirname(fileURLToPath(import.meta.url)), 'relying-party.ts')], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: Array<(l: string) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => waiting.shift()?.(l));
  const ask = (line: string) => new Promise<string>((r) => {
    waiting.push(r);
    child.stdin!.write(`${line}\n`);
  });
  return { ask, stop: () => child.kill('SIGTERM') };
}

/**
 * Revocation rows: time from the revocation request to the last of three relying-party processes
 * refusing the token. Baseline: keyturn's deny-list write alone (`revoke()`, no workflow). keyturn:
 * `startRevocation` (the workflow contains at once, before sign-off, so no later step is faster),
 * back to back and with each run started once the previous one waits for sign-off.
 */
export async function revocationRows(ctx: BenchContext): Promise<Row[]> {
  const n = ctx.quick ? 10 : 100;
  const wf = await startWorkflowBench(ctx.stack, 1, ctx.say, { ttl: '10m', overlap: '11m' });
  const issuer = wf.issuers[0]!;
  const parties: Array<ReturnType<typeof relyingParty>> = [];
  try {
    const first = await startRotation(wf.client, { issuer, reason: 'bench: first key', requester: { kind: 'cli', id: 'cli:bench' }, taskQueue: wf.taskQueue });
    await wf.approve(first.workflowId);
    await first.result();
    const s = ctx.stack.services;
    const tokens = new TokenIssuer({ pool: s.pool, signer: s.keyManager, appendAudit: s.appendAudit, clock: s.clock, policy: () => wf.policy });
    const env = { ...process.env, DATABASE_URL: ctx.stack.databaseUrl, ISSUER: issuer, AUDIENCE: wf.policy.issuers[0]!.audiences[0]!, ALG: 'ES256', JWKS_URI: jwksUrlFor(wf.httpUrl)(issuer) };
    for (let i = 0; i < 3; i++) parties.push(relyingParty(env));

    const propagation = async (trigger: (jti: string) => Promise<unknown>, settle?: () => Promise<void>): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = await tokens.issue({ issuer, clientId: ctx.stack.client.clientId, authentication: 'in-process' });
        const ready = await Promise.all(parties.map((p) => p.ask(`token ${t.accessToken}`)));
        if (ready.some((r) => r !== 'ready')) throw new Error(`a relying party did not accept a fresh token: ${ready.join(',')}`);
        const watching = parties.map((p) => p.ask('watch'));
        const t0 = Date.now();
        await trigger(t.jti);
        const refused = await Promise.all(watching);
        if (refused.includes('timeout')) throw new Error('a relying party never saw the revocation');
        out.push(Math.max(...refused.map(Number)) - t0);
        await settle?.();
      }
      return out;
    };
    ctx.say(`[bench] revocation propagation to 3 validator processes, ${n} revocations each way…`);
    const direct = await propagation((jti) => revoke(ctx.stack.pool, { kind: 'jti', value: jti, expiresAt: new Date(Date.now() + 3_600_000), reason: 'bench' }));
    const runs: string[] = [];
    const startOne = async (jti: string) => {
      const h = await startRevocation(wf.client, { kind: 'jti', value: jti, issuer, reason: 'bench', requester: 'cli:bench', taskQueue: wf.taskQueue });
      runs.push(h.workflowId);
    };
    const viaWorkflow = await propagation(startOne);
    // A run goes on after containment (notices, the sign-off request): the back-to-back row pays for
    // the previous run's follow-ups, this one starts each revocation once the previous run waits for
    // sign-off with no activity in flight.
    const waitingForSignOff = async () => {
      const handle = wf.client.workflow.getHandle(runs[runs.length - 1]!);
      const deadline = Date.now() + 30_000;
      for (;;) {
        const { phase } = await handle.query(statusQuery);
        if (phase === 'failed') throw new Error(`revocation ${handle.workflowId} failed`);
        if (phase === 'awaiting_sign_off' && !(await handle.describe()).raw.pendingActivities?.length) return;
        if (Date.now() > deadline) throw new Error(`revocation ${handle.workflowId} never settled waiting for sign-off (phase ${phase})`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const isolated = await propagation(startOne, waitingForSignOff);
    for (const id of runs) await wf.approve(id);
    const row = (id: string, name: string, values: number[], baseline?: string): Row => {
      const p50 = percentile(values, 50);
      const p99 = percentile(values, 99);
      return { id, group: 'Revocation', alg: 'ES256', name, opsPerSec: 1000 / Math.max(p50, 0.1), ...(baseline ? { baseline } : {}), note: `p50 ${p50} ms, p99 ${p99} ms over ${n}; goal p99 < 100 ms: ${p99 < 100 ? 'met' : 'missed'}` };
    };
    return [
      row('revocation/direct', 'deny-list write → last of 3 validators refusing (baseline)', direct),
      row('revocation/workflow', 'revocation workflow start → last of 3 validators refusing, back to back', viaWorkflow, 'revocation/direct'),
      row('revocation/workflow-isolated', 'revocation workflow start → last of 3 validators refusing, each once the previous run waits for sign-off, idle', isolated, 'revocation/direct'),
    ];
  } finally {
    for (const p of parties) p.stop();
    await wf.stop();
  }
}
