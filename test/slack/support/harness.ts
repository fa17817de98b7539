import type { ClaimLedger } from '../../../slack/claims.js';
import type { ApprovalPolicy } from '../../../agents/planner/policy-types.js';
import { createLogger } from '../../../infra/log/logger.js';
import { createSlackApp, SLACK_ENDPOINT, type Handled, type SlackApp } from '../../../slack/app.js';
import { encodeButtonValue } from '../../../slack/messages.js';
import type { ApprovalsAccess, DecideInput, KeyturnPort, RunState, StartedRun } from '../../../slack/port.js';
import type { RevokeCommand } from '../../../slack/revoke-command.js';
import { startFakeSlack, type FakeSlack } from './fake-slack.js';
import type { Workspace } from './signed.js';

export const ISSUER = 'https://auth.example.test';
export const SIGNING_SECRET = 'test-signing-secret-0123456789abcdef';
export const WORKSPACE_IDS = { appId: 'A0KEYTURN', teamId: 'T0KEYTURN', channel: 'C0APPROVE' };

export const approvalsPolicy = (over: Partial<ApprovalPolicy> = {}): ApprovalPolicy => ({
  approvers: ['U0ALICE', 'U0BOB', 'U0REQ', 'S0LEADS'],
  quorum: 2,
  timeoutSeconds: 3600,
  escalationIntervalSeconds: 600,
  channels: ['slack'],
  slackChannel: WORKSPACE_IDS.channel,
  escalationGroup: 'S0ONCALL',
  ...over,
});

/**
 * The boundary to Temporal, recorded: runs are what the test says they are, and every decision
 * the Slack app delivers is kept in order.
 */
export class RecordingPort implements KeyturnPort {
  readonly runs = new Map<string, RunState>();
  readonly decisions: DecideInput[] = [];
  readonly started: Array<{ issuer: string; reason: string; requester: string }> = [];
  readonly revocations: Array<RevokeCommand & { requester: string }> = [];
  /** kid → issuer, as signing_keys would answer. */
  readonly kids = new Map<string, string>();
  /** `jti:<v>` / `sub:<v>` → issuers with unexpired tokens, as issued_tokens would answer. */
  readonly tokens = new Map<string, string[]>();

  /** When set, runState fails as a status query does with no worker running. */
  unavailable = false;

  async runState(workflowId: string) {
    if (this.unavailable) throw new Error('query timed out: no worker polled the task queue');
    const r = this.runs.get(workflowId);
    return r ? { ...r } : undefined;
  }

  async decide(input: DecideInput) {
    this.decisions.push(input);
  }

  async startRotation(input: { issuer: string; reason: string; requester: string }): Promise<StartedRun> {
    this.started.push(input);
    return { workflowId: `rotate-test-${this.started.length}`, runId: `run-started-${this.started.length}` };
  }

  async revoke(input: RevokeCommand & { requester: string }): Promise<StartedRun> {
    this.revocations.push(input);
    return { workflowId: `revoke-test-${this.revocations.length}`, runId: `run-revoke-${this.revocations.length}` };
  }

  async tokenIssuers(kind: 'jti' | 'sub', value: string) {
    return this.tokens.get(`${kind}:${value}`) ?? [];
  }

  async kidIssuer(kid: string) {
    return this.kids.get(kid);
  }

  async status({ issuers, workflowId }: { issuers: readonly string[]; workflowId?: string }) {
    const runs = [...this.runs.values()].filter((r) => r.kind !== 'policy' && issuers.includes(r.subject) && (workflowId === undefined || r.workflowId === workflowId));
    return runs.map((r) => ({ workflowId: r.workflowId, runId: r.runId, workflowStatus: r.decided ? 'COMPLETED' : 'RUNNING', phase: r.phase, ...(r.planHash ? { planHash: r.planHash } : {}), approvals: [], deadlines: {} }));
  }

  webUiLink(workflowId: string, runId?: string) {
    return `http://temporal-ui.test/namespaces/default/workflows/${workflowId}${runId ? `/${runId}` : ''}`;
  }
}

export const waitingRun = (over: Partial<RunState> = {}): RunState => ({
  workflowId: 'rotate-auth-example-test-a1b2c3',
  runId: 'run-0001',
  subject: ISSUER,
  kind: 'rotation',
  planHash: 'c0ffee'.repeat(10) + 'abcd',
  phase: 'awaiting_sign_off',
  requester: 'U0REQ',
  decided: false,
  ...over,
});

export const buttonValueOf = (r: RunState) => encodeButtonValue({ workflowId: r.workflowId, runId: r.runId, planHash: r.planHash! });

export interface Harness {
  slack: FakeSlack;
  port: RecordingPort;
  app: SlackApp;
  url: string;
  workspace: Workspace;
  /** Resolves with the next interaction the app has finished handling. */
  nextHandled(): Promise<Handled>;
  ephemerals(): string[];
  stop(): Promise<void>;
}

export async function startHarness(o: { policy?: ApprovalPolicy; otherIssuers?: Record<string, ApprovalPolicy>; groups?: Record<string, string[]>; now?: () => number; canRevoke?: boolean; claims?: ClaimLedger } = {}): Promise<Harness> {
  const slack = await startFakeSlack({ teamId: WORKSPACE_IDS.teamId, groups: o.groups ?? { S0LEADS: ['U0GRACE'] } });
  const port = new RecordingPort();
  const policy = o.policy ?? approvalsPolicy();
  const issuers = new Map([[ISSUER, policy], ...Object.entries(o.otherIssuers ?? {})]);
  const approvals: ApprovalsAccess = { approvalsFor: (issuer) => issuers.get(issuer), issuers: () => [...issuers.keys()] };
  if (!o.canRevoke) Object.assign(port, { revoke: undefined });
  const queued: Handled[] = [];
  const waiters: Array<(h: Handled) => void> = [];
  const app = createSlackApp({
    signingSecret: SIGNING_SECRET,
    botToken: 'xoxb-test-bot-token',
    appId: WORKSPACE_IDS.appId,
    teamId: WORKSPACE_IDS.teamId,
    slackApiUrl: slack.apiUrl,
    approvals,
    port,
    log: createLogger({ name: 'test-slack', level: 'silent' }),
    ...(o.now ? { now: o.now } : {}),
    ...(o.claims ? { claims: o.claims } : {}),
    onHandled: (h) => {
      const w = waiters.shift();
      if (w) w(h);
      else queued.push(h);
    },
  });
  const { port: listening } = await app.start({ port: 0 });
  return {
    slack,
    port,
    app,
    url: `http://127.0.0.1:${listening}${SLACK_ENDPOINT}`,
    workspace: { ...WORKSPACE_IDS, responseUrl: slack.responseUrl('r1') },
    nextHandled: () => {
      const h = queued.shift();
      return h ? Promise.resolve(h) : new Promise<Handled>((resolve) => waiters.push(resolve));
    },
    ephemerals: () => slack.callsTo('chat.postEphemeral').map((c) => String(c.args.text)),
    async stop() {
      await app.stop();
      await slack.stop();
    },
  };
}
