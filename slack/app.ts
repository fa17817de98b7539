import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  App,
  HTTPReceiver,
  LogLevel,
  type BlockButtonAction,
  type Logger as BoltLogger,
  type ReceiverProcessEventErrorHandlerArgs,
  type RespondFn,
  type ViewSubmitAction,
  type webApi,
} from '@slack/bolt';
import type { FastifyInstance } from 'fastify';
import { isKeyturnError, KeyturnError } from '../config/errors.js';
import { createLogger, type Logger } from '../infra/log/logger.js';
import { samePerson } from '../agents/planner/people.js';
import type { ApprovalPolicy } from '../agents/planner/policy-types.js';
import { allowedApprover, type Allowance } from './approvers.js';
import { memoryClaims, type ClaimLedger } from './claims.js';
import {
  ACTION_APPROVE,
  ACTION_REJECT,
  COMMAND_HELP,
  decodeButtonValue,
  esc,
  explain,
  REASON_BLOCK,
  REASON_INPUT,
  REJECT_MODAL,
  rejectModal,
  statusText,
} from './messages.js';
import type { ApprovalsAccess, KeyturnPort } from './port.js';
import { parseRevokeCommand } from './revoke-command.js';

export const SLACK_ENDPOINT = '/slack/events';
/** Slack signs every request; one signed longer ago, or further ahead, than this is refused. */
export const SLACK_TIMESTAMP_WINDOW_SECONDS = 300;

export interface SlackAppOptions {
  signingSecret: string;
  botToken: string;
  /** Socket Mode when given (xapp-…); no HTTP endpoint is served then. */
  appToken?: string;
  /** The api_app_id and team id this deployment answers; payloads for any other are refused. */
  appId: string;
  teamId: string;
  /** Web API base URL (tests point it at a stand-in), default https://slack.com/api/. */
  slackApiUrl?: string;
  approvals: ApprovalsAccess;
  port: KeyturnPort;
  /** Where replay and double-click claims live; default in this process only (use pgClaims with replicas). */
  claims?: ClaimLedger;
  endpoint?: string;
  /** The slash command's name, default /keyturn. */
  command?: string;
  log?: Logger;
  /** Milliseconds since the epoch (tests pin it); only the timestamp window uses it. */
  now?: () => number;
  /** Called once each interaction has been fully handled (metrics; tests wait on it). */
  onHandled?: (e: Handled) => void;
}

export type Outcome =
  | 'decided' | 'replay' | 'duplicate' | 'failed' | 'not-approver' | 'self-approval' | 'stale-button' | 'not-waiting'
  | 'unknown-run' | 'slack-not-allowed' | 'modal-opened' | 'reason-missing' | 'answered' | 'refused' | 'error';

export interface Handled {
  interaction: 'approve' | 'reject-button' | 'reject-modal' | 'command';
  outcome: Outcome;
  user: string;
}

export interface SlackApp {
  app: App;
  /**
   * Node request handler for `POST /slack/events` (events, interactivity and slash commands);
   * undefined in Socket Mode. Answers 404 for any other path.
   */
  requestListener: RequestListener | undefined;
  /** A Fastify route group mounting the endpoint on keyturn's HTTP service: pass it in KeyturnHttpDeps.routes. */
  fastifyRoutes(): (app: FastifyInstance) => void;
  /** HTTP mode: listens on its own port (0 picks a free one) and returns it; Socket Mode: connects. */
  start(opts?: { port?: number; host?: string }): Promise<{ port?: number }>;
  stop(): Promise<void>;
}

/** Raised (and answered 403) when a correctly signed payload belongs to another app or workspace. */
const FOREIGN = 'SLACK_FOREIGN_PAYLOAD';

/** The keyturn Slack app: sign-off buttons, the reject modal and `/keyturn`, on real Bolt. */
export function createSlackApp(opts: SlackAppOptions): SlackApp {
  const log = opts.log ?? createLogger({ name: 'keyturn-slack' });
  const now = opts.now ?? Date.now;
  const claims = opts.claims ?? memoryClaims();
  const endpoint = opts.endpoint ?? SLACK_ENDPOINT;
  const socketMode = opts.appToken !== undefined;
  const boltLogger = toBoltLogger(log);

  const receiver = socketMode
    ? undefined
    : new HTTPReceiver({
        signingSecret: opts.signingSecret,
        endpoints: endpoint,
        logger: boltLogger,
        processEventErrorHandler: async ({ error, response, logger }: ReceiverProcessEventErrorHandlerArgs) => {
          if (!response.headersSent) {
            response.writeHead(isKeyturnError(error, FOREIGN) ? 403 : 500);
            response.end();
          } else {
            logger.error(`Slack request failed after ack: ${(error as Error).message}`);
          }
          return false;
        },
      });
  const app = new App({
    token: opts.botToken,
    logger: boltLogger,
    clientOptions: { ...(opts.slackApiUrl ? { slackApiUrl: opts.slackApiUrl } : {}), logger: boltLogger },
    ...(socketMode ? { socketMode: true, appToken: opts.appToken, signingSecret: opts.signingSecret } : { receiver }),
  });

  app.error(async (error) => {
    const original = (error as { original?: unknown }).original ?? error;
    if (isKeyturnError(original, FOREIGN) || isKeyturnError(error, FOREIGN)) throw original;
    log.error({ err: (error as Error).message }, 'slack handler failed');
  });

  // Every payload must come from our app in our workspace, whatever Bolt routes it to.
  app.use(async (args) => {
    const body = args.body as { api_app_id?: unknown; team?: { id?: unknown } | null; team_id?: unknown; type?: unknown };
    const appId = body.api_app_id;
    const teamId = body.team?.id ?? body.team_id;
    if (appId !== opts.appId || teamId !== opts.teamId) {
      log.warn({ apiAppId: typeof appId === 'string' ? appId : null, teamId: typeof teamId === 'string' ? teamId : null }, 'slack payload for another app or workspace refused');
      throw new KeyturnError(FOREIGN, 'payload for another Slack app or workspace', 'Check SLACK_APP_ID / SLACK_TEAM_ID against the app that sent it.');
    }
    await args.next();
  });

  type Ctx = {
    client: webApi.WebClient;
    user: string;
    channel: string | undefined;
    respond?: RespondFn;
  };

  const tell = async (ctx: Ctx, text: string) => {
    try {
      if (ctx.channel) await ctx.client.chat.postEphemeral({ channel: ctx.channel, user: ctx.user, text });
      else if (ctx.respond) await ctx.respond({ response_type: 'ephemeral', replace_original: false, text });
      else await ctx.client.chat.postMessage({ channel: ctx.user, text });
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'could not tell the approver why');
    }
  };

  const handled = (interaction: Handled['interaction'], user: string, outcome: Outcome) => {
    try {
      opts.onHandled?.({ interaction, outcome, user });
    } catch {
      // an observer never changes what was decided
    }
  };

  /** The server-side checks of one decision, then at most one call to port.decide. */
  const decide = async (ctx: Ctx, input: { decision: 'approve' | 'reject'; value: string | undefined; reason?: string }): Promise<Outcome> => {
    const refuse = async (outcome: Outcome, text: string): Promise<Outcome> => {
      await tell(ctx, text);
      return outcome;
    };
    const target = decodeButtonValue(input.value);
    if (!target) return refuse('stale-button', explain.staleButton());
    let state;
    try {
      state = await opts.port.runState(target.workflowId);
    } catch (e) {
      // No worker answers the run's status query (or Temporal is down): say so, claim nothing.
      log.error({ err: (e as Error).message, workflowId: target.workflowId }, 'run state unavailable');
      return refuse('failed', explain.stateUnavailable());
    }
    if (!state) return refuse('unknown-run', explain.unknownRun());
    // The approvals the run pinned are what its sign-off gate applies; for a rotation or revocation
    // today's policy must allow the person too, so taking someone out of the policy takes effect at
    // once. A revocation pinned across several issuers counts the vote towards every issuer's group
    // that lists the person, so each of those issuers must allow them today; and only the named
    // issuer's approvers may reject it (a rejection lifts the containment everywhere). A policy
    // change has no issuer: its pinned approvals alone decide.
    const pinned = state.approvals; // absent only for runs planned before approvals were pinned
    if (state.kind === 'policy' && !pinned) return refuse('not-approver', explain.notApprover(state.subject));
    if (pinned && !pinned.channels.includes('slack')) return refuse('slack-not-allowed', explain.slackNotAllowed(state.subject));
    const acrossIssuers = state.kind === 'revocation' && pinned?.groups?.length ? pinned.groups : undefined;
    const todays: ApprovalPolicy[] = [];
    let allowance: Allowance = { allowed: false };
    try {
      let issuersToday = state.kind === 'policy' ? [] : [state.subject];
      if (acrossIssuers) {
        issuersToday = [];
        for (const g of acrossIssuers) if ((await allowedApprover(ctx.client, { approvers: g.approvers }, ctx.user)).allowed) issuersToday.push(g.label);
        if (issuersToday.length === 0) return refuse('not-approver', explain.notApprover(state.subject));
        if (input.decision === 'reject' && !issuersToday.includes(state.subject)) return refuse('not-approver', explain.rejectNeedsNamedIssuer(state.subject));
      }
      for (const issuer of issuersToday) {
        const today = opts.approvals.approvalsFor(issuer);
        if (!today) return refuse('not-approver', explain.notApprover(issuer));
        if (!today.channels.includes('slack')) return refuse('slack-not-allowed', explain.slackNotAllowed(issuer));
        allowance = await allowedApprover(ctx.client, today, ctx.user);
        if (!allowance.allowed) break;
        todays.push(today);
      }
      // The group the workflow checks is one of the pinned approvals: name the one found there.
      if (pinned && (allowance.allowed || issuersToday.length === 0)) allowance = await allowedApprover(ctx.client, pinned, ctx.user);
    } catch (e) {
      // Slack did not answer a user-group lookup: nobody is allowed through a group we cannot see.
      log.error({ err: (e as Error).message, workflowId: target.workflowId, user: ctx.user }, 'approver group lookup failed');
      return refuse('failed', explain.groupsUnavailable());
    }
    if (!allowance.allowed) {
      log.info({ workflowId: target.workflowId, user: ctx.user }, 'click by a non-approver ignored');
      return refuse('not-approver', explain.notApprover(state.subject));
    }
    // The requester may have started the run under another of their ids (cli:<name>): the policy's people say who is who.
    if (state.requester !== undefined && [pinned, ...todays].some((p) => p !== undefined && samePerson(p, state.requester!, ctx.user))) return refuse('self-approval', explain.selfApproval());
    const voteKey = `vote:${target.workflowId}:${target.runId}:${ctx.user}`;
    if (state.decided) {
      // The second of a double click may read the run after the first click's vote settled it:
      // that click is still a duplicate, not news that the run moved on.
      return (await claims.isClaimed(voteKey)) ? refuse('duplicate', explain.duplicate()) : refuse('not-waiting', explain.notWaiting(state.phase));
    }
    if (state.runId !== target.runId || state.planHash !== target.planHash) return refuse('stale-button', explain.staleButton());
    if (!(await claims.claim(voteKey))) return refuse('duplicate', explain.duplicate());
    try {
      await opts.port.decide({
        workflowId: target.workflowId,
        runId: target.runId,
        planHash: target.planHash,
        decision: input.decision,
        approver: ctx.user,
        ...(input.reason ? { reason: input.reason } : {}),
        ...(allowance.viaGroup ? { viaGroup: allowance.viaGroup } : {}),
        ...(allowance.viaGroups ? { viaGroups: allowance.viaGroups } : {}),
      });
    } catch (e) {
      await claims.release(voteKey);
      log.error({ err: (e as Error).message, workflowId: target.workflowId }, 'decision not delivered');
      return refuse('failed', explain.failed());
    }
    log.info({ workflowId: target.workflowId, runId: target.runId, user: ctx.user, decision: input.decision, viaGroup: allowance.viaGroup ?? null, viaGroups: allowance.viaGroups ?? null }, 'slack decision sent');
    await tell(ctx, explain.recorded(input.decision, state.subject));
    return 'decided';
  };

  /**
   * Runs one interaction's work after its ack, and reports how it ended. An unexpected failure (the
   * database down, say) is told to the person too, so a click or a command never goes unanswered.
   */
  const settle = async (interaction: Handled['interaction'], ctx: Ctx, work: () => Promise<Outcome>) => {
    let outcome: Outcome;
    try {
      outcome = await work();
    } catch (e) {
      log.error({ err: (e as Error).message, interaction }, 'slack interaction failed');
      await tell(ctx, explain.unexpected());
      outcome = 'error';
    }
    handled(interaction, ctx.user, outcome);
  };

  /** A replayed request carries the same trigger id: it is acted on once. */
  const firstSight = (trigger: string | undefined) => (trigger ? claims.claim(`trigger:${trigger}`) : Promise.resolve(true));

  app.action<BlockButtonAction>(ACTION_APPROVE, async ({ ack, body, action, client, respond }) => {
    await ack();
    const ctx = { client, user: body.user.id, channel: body.channel?.id, respond };
    await settle('approve', ctx, async () => {
      if (!(await firstSight(body.trigger_id))) return 'replay';
      return decide(ctx, { decision: 'approve', value: action.value });
    });
  });

  app.action<BlockButtonAction>(ACTION_REJECT, async ({ ack, body, action, client, respond }) => {
    await ack();
    const ctx = { client, user: body.user.id, channel: body.channel?.id, respond };
    await settle('reject-button', ctx, async () => {
      if (!(await firstSight(body.trigger_id))) return 'replay';
      const target = decodeButtonValue(action.value);
      if (!target) {
        await tell(ctx, explain.staleButton());
        return 'stale-button';
      }
      // The trigger expires 3 s after the click: open the modal first; every check runs on submission.
      await client.views.open({
        trigger_id: body.trigger_id,
        view: rejectModal({ ...target, ...(body.channel?.id ? { channel: body.channel.id } : {}), ...(body.message?.ts ? { messageTs: body.message.ts } : {}) }) as unknown as webApi.ViewsOpenArguments['view'],
      });
      return 'modal-opened';
    });
  });

  app.view<ViewSubmitAction>(REJECT_MODAL, async ({ ack, body, view, client }) => {
    const reason = view.state.values[REASON_BLOCK]?.[REASON_INPUT]?.value?.trim() ?? '';
    if (reason.length < 3) {
      await ack({ response_action: 'errors', errors: { [REASON_BLOCK]: 'Say why you reject; it is shown to the requester and audited.' } });
      handled('reject-modal', body.user.id, 'reason-missing');
      return;
    }
    await ack();
    await settle('reject-modal', { client, user: body.user.id, channel: undefined }, async () => {
      if (!(await firstSight(body.trigger_id || `view:${view.id}:${view.hash}`))) return 'replay';
      let channel: string | undefined;
      try {
        const meta = JSON.parse(view.private_metadata) as { channel?: unknown };
        if (typeof meta.channel === 'string') channel = meta.channel;
      } catch {
        channel = undefined;
      }
      return decide({ client, user: body.user.id, channel }, { decision: 'reject', value: view.private_metadata, reason });
    });
  });

  const runCommand = async ({ command, respond, client }: { command: { text: string; user_id: string }; respond: RespondFn; client: webApi.WebClient }): Promise<Outcome> => {
    const reply = async (text: string, outcome: Outcome = 'answered'): Promise<Outcome> => {
      await respond({ response_type: 'ephemeral', text });
      return outcome;
    };
    const [sub, ...args] = command.text.trim().split(/\s+/).filter(Boolean);
    const user = command.user_id;
    // Only where the policy takes approvals from Slack: a start or a containment from a channel the
    // policy switched off (say, after a Slack compromise) is refused, as its buttons are.
    const allowedFor = async (issuers: string[]) => {
      for (const issuer of issuers) {
        const policy = opts.approvals.approvalsFor(issuer);
        if (policy && policy.channels.includes('slack') && (await allowedApprover(client, policy, user)).allowed) return true;
      }
      return false;
    };
    const slackOff = (issuer: string) => opts.approvals.approvalsFor(issuer)?.channels.includes('slack') === false;
    /** Whether the policy lists the user as an approver of `issuer`, whatever its channels: only then is the issuer named to them. */
    const approves = async (issuer: string) => {
      const policy = opts.approvals.approvalsFor(issuer);
      return policy !== undefined && (await allowedApprover(client, policy, user)).allowed;
    };
    /** Why the user may not use /keyturn at all, or undefined when they may. */
    const refusedOutright = async (): Promise<string | undefined> => {
      const issuers = opts.approvals.issuers();
      if (issuers.length > 0 && issuers.every(slackOff)) return 'The keyturn policy takes approvals from Slack for no issuer, so /keyturn does nothing here; use the keyturn CLI.';
      return (await allowedFor(issuers)) ? undefined : 'You are not allowed to use /keyturn.';
    };
    try {
      if (sub === 'rotate') {
        const [issuer, ...words] = args;
        const reason = words.join(' ');
        if (!issuer || !reason) return reply('Usage: `/keyturn rotate <issuer> <reason>`');
        if (!opts.approvals.approvalsFor(issuer)) return reply(`\`${esc(issuer)}\` is not an issuer in the keyturn policy.`, 'refused');
        if (slackOff(issuer)) return reply(`The keyturn policy does not take approvals for ${esc(issuer)} from Slack, so its rotations are not started here either; use the keyturn CLI.`, 'refused');
        if (!(await allowedFor([issuer]))) return reply(`You are not allowed to start rotations of ${esc(issuer)}.`, 'refused');
        const run = await opts.port.startRotation({ issuer, reason, requester: user });
        log.info({ workflowId: run.workflowId, user }, 'rotation started from slack');
        return reply(`Rotation of ${esc(issuer)} started: <${run.webUrl ?? opts.port.webUiLink(run.workflowId, run.runId)}|${esc(run.workflowId)}>. It waits for sign-off by someone other than you.`);
      }
      if (sub === 'status') {
        const outright = await refusedOutright();
        if (outright) return reply(outright, 'refused');
        // Only the runs of issuers this person may approve for from Slack today.
        const issuers: string[] = [];
        for (const issuer of opts.approvals.issuers()) if (await allowedFor([issuer])) issuers.push(issuer);
        const workflowId = args[0];
        const runs = await opts.port.status({ issuers, ...(workflowId ? { workflowId } : {}) });
        if (workflowId && runs.length === 0) return reply(`No rotation or revocation \`${esc(workflowId)}\` of an issuer you approve for.`);
        return reply(statusText(runs));
      }
      if (sub === 'revoke') {
        const outright = await refusedOutright();
        if (outright) return reply(outright, 'refused');
        if (!opts.port.revoke) return reply('Revocation from Slack is not yet available; use the keyturn CLI.');
        const request = parseRevokeCommand(args);
        // Containment acts at once: only an approver of every affected issuer may start it. The deny-list
        // is not per issuer, so a jti or sub affects each issuer with unexpired tokens of it too.
        // Issuers the user did not name and does not approve for are never named to them: which
        // issuer owns a kid, or has tokens of a jti or sub, is not theirs to learn.
        const issuer = request.kind === 'kid' ? await opts.port.kidIssuer?.(request.value) : request.issuer;
        if (!issuer || (request.kind === 'kid' && !(await approves(issuer)))) {
          return reply(`No signing key with kid \`${esc(request.value)}\` belongs to an issuer you approve for.`, 'refused');
        }
        const affected = request.kind === 'kid' ? [issuer] : [...new Set([issuer, ...((await opts.port.tokenIssuers?.(request.kind, request.value)) ?? [])])];
        for (const each of affected) {
          const nameable = each === issuer || (await approves(each));
          if (!nameable) return reply(`This ${request.kind} also has unexpired tokens of an issuer you do not approve for: only an approver of every affected issuer may revoke it.`, 'refused');
          if (slackOff(each)) return reply(`The keyturn policy does not take approvals for ${esc(each)} from Slack, so revocations for it are not started here either; use the keyturn CLI.`, 'refused');
          if (!(await allowedFor([each]))) return reply(`You are not allowed to revoke for ${esc(each)}: only its approvers may.`, 'refused');
        }
        const run = await opts.port.revoke({ ...request, requester: user });
        return reply(`Revocation started: <${run.webUrl ?? opts.port.webUiLink(run.workflowId, run.runId)}|${esc(run.workflowId)}>.`);
      }
      return reply(COMMAND_HELP);
    } catch (e) {
      if (e instanceof KeyturnError) return reply(esc(e.toLine()), 'refused');
      log.error({ err: (e as Error).message, sub }, 'slash command failed');
      return reply('keyturn could not do that (internal error); see the keyturn logs.', 'error');
    }
  };

  app.command(opts.command ?? '/keyturn', async ({ ack, command, respond, client }) => {
    await ack();
    await settle('command', { client, user: command.user_id, channel: undefined, respond }, async () => {
      if (!(await firstSight(command.trigger_id))) return 'replay';
      return runCommand({ command, respond, client });
    });
  });

  const requestListener: RequestListener | undefined = receiver
    ? (req, res) => {
        if (!withinWindow(req, now())) {
          res.writeHead(401);
          res.end();
          return;
        }
        receiver.requestListener(req, res);
      }
    : undefined;

  let server: Server | undefined;
  return {
    app,
    requestListener,
    fastifyRoutes() {
      if (!requestListener) throw new KeyturnError('SLACK_SOCKET_MODE', 'the Slack app runs in Socket Mode and serves no HTTP endpoint', 'Unset SLACK_APP_TOKEN to serve /slack/events over HTTP.');
      return (fastify) => {
        void fastify.register(async (scope) => {
          // Bolt verifies the signature over the exact bytes: hand it the raw body, unparsed.
          scope.removeAllContentTypeParsers();
          scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_req, body, done) => done(null, body));
          scope.post(endpoint, (request, reply) => {
            const raw = request.raw as IncomingMessage & { rawBody?: Buffer };
            raw.rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
            reply.hijack();
            requestListener(raw, reply.raw as ServerResponse);
          });
        });
      };
    },
    async start(o = {}) {
      if (socketMode) {
        await app.start();
        return {};
      }
      server = createServer(requestListener);
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => resolve());
      });
      return { port: (server.address() as AddressInfo).port };
    },
    async stop() {
      if (socketMode) await app.stop();
      if (server) {
        const s = server;
        server = undefined;
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
    },
  };
}

/** Bolt refuses stale timestamps only; keyturn also refuses those from the future. */
function withinWindow(req: IncomingMessage, nowMs: number): boolean {
  const header = req.headers['x-slack-request-timestamp'];
  if (header === undefined) return true; // Bolt refuses unsigned requests, except a bare ssl_check
  const ts = Number(Array.isArray(header) ? header[0] : header);
  return Number.isFinite(ts) && Math.abs(nowMs / 1000 - ts) <= SLACK_TIMESTAMP_WINDOW_SECONDS;
}

function toBoltLogger(log: Logger): BoltLogger {
  // Only strings and error messages pass: Bolt and the Web API client may log request objects,
  // and those can carry tokens. Debug output (request bodies) is dropped altogether.
  const line = (msg: unknown[]) => msg.map((m) => (m instanceof Error ? m.message : typeof m === 'string' ? m : '[object]')).join(' ');
  let level = LogLevel.INFO;
  return {
    debug: () => {},
    info: (...msg: unknown[]) => log.info({ component: 'bolt' }, line(msg)),
    warn: (...msg: unknown[]) => log.warn({ component: 'bolt' }, line(msg)),
    error: (...msg: unknown[]) => log.error({ component: 'bolt' }, line(msg)),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
