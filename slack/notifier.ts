import { webApi } from '@slack/bolt';
import type { Notifier, RunEvent } from '../agents/approvals/notifier.js';
import type { Logger } from '../infra/log/logger.js';
import { KeyturnError } from '../config/errors.js';
import { escalationText, reminderText, requestMessage, type RunProgress, type SignOffRequestView, type VoteView } from './messages.js';
import type { SlackMessageStore } from './store.js';

export interface SlackNotifierOptions {
  client: webApi.WebClient;
  store: SlackMessageStore;
  webUiLink: (workflowId: string, runId?: string) => string;
  /** Used when the policy names no slackChannel for the issuer. */
  defaultChannel?: string;
  log?: Pick<Logger, 'info' | 'warn'>;
}

/** A Web API client for the notifier, on the bot token (never logged). */
export function slackWebClient(botToken: string, slackApiUrl?: string): webApi.WebClient {
  return new webApi.WebClient(botToken, { ...(slackApiUrl ? { slackApiUrl } : {}), logLevel: webApi.LogLevel.ERROR });
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

/** The per-issuer quorums a sign-off needs (a policy change, a revocation reaching several issuers), as the message shows them. */
function groupsOf(v: unknown): Array<{ label: string; quorum: number }> {
  if (!Array.isArray(v)) return [];
  return v.flatMap((g: { label?: unknown; quorum?: unknown }) => (typeof g?.label === 'string' && typeof g.quorum === 'number' ? [{ label: g.label, quorum: g.quorum }] : []));
}

function requestView(e: RunEvent): SignOffRequestView {
  const a = (e.approvals ?? {}) as Record<string, unknown>;
  return {
    kind: e.kind,
    workflowId: e.workflowId,
    runId: e.runId,
    planHash: e.planHash ?? '',
    requester: e.requester ?? 'unknown',
    subject: e.subject ?? 'unknown',
    urgent: e.urgent === true || e.kind === 'revocation',
    ...(str(e.deadline) ? { deadline: str(e.deadline)! } : {}),
    summary: (e.summary && typeof e.summary === 'object' ? e.summary : {}) as SignOffRequestView['summary'],
    approvals: {
      quorum: typeof a.quorum === 'number' ? a.quorum : 1,
      ...(groupsOf(a.groups).length ? { groups: groupsOf(a.groups) } : {}),
      slackChannel: str(a.slackChannel) ?? null,
      escalationChannel: str(a.escalationChannel) ?? null,
      escalationGroup: str(a.escalationGroup) ?? null,
    },
  };
}

/** What a run event changes in the message; undefined for events that change nothing. */
export function progressPatch(e: RunEvent): RunProgress | undefined {
  switch (e.type) {
    case 'signoff.vote': {
      const votes = (Array.isArray(e.votes) ? e.votes : []) as VoteView[];
      const decided = e.decided === 'approved' || e.decided === 'rejected' ? e.decided : undefined;
      return { votes: votes.map((v) => ({ approver: v.approver, decision: v.decision, ...(v.viaGroup ? { viaGroup: v.viaGroup } : {}), ...(Array.isArray(v.viaGroups) && v.viaGroups.length ? { viaGroups: v.viaGroups.filter((g) => typeof g === 'string') } : {}), ...(v.reason ? { reason: v.reason } : {}) })), ...(decided ? { signOff: decided } : {}) };
    }
    case 'run.published':
      return { published: true, ...(str(e.newKid) ? { newKid: str(e.newKid)! } : {}) };
    case 'run.activated':
      return { activated: true, ...(str(e.newKid) ? { newKid: str(e.newKid)! } : {}) };
    case 'run.canary_passed':
      return { canary: 'passed' };
    case 'run.canary_failed':
      return { canary: 'failed', canaryFailures: Array.isArray(e.failures) ? e.failures.map(String) : [] };
    default:
      if (e.type.startsWith('run.')) {
        const outcome = e.type.slice(4);
        return { outcome, ...(str(e.reason) ? { reason: str(e.reason)! } : {}), ...(outcome === 'expired' ? { signOff: 'expired' as const } : {}) };
      }
      return undefined;
  }
}

/**
 * Posts the sign-off request where the policy says, then keeps that one message current with
 * chat.update: approvals k of N and who, publish, activation, canary, outcome; buttons go once the
 * sign-off is over. Reminders go in its thread, escalations to the escalation channel. Retried
 * events are harmless: the message is re-rendered from the stored request and progress.
 */
export function slackNotifier(opts: SlackNotifierOptions): Notifier {
  const notify = slackNotice(opts);
  return {
    async notify(event) {
      try {
        await notify(event);
      } catch (e) {
        throw refusal(e) ?? e;
      }
    },
  };
}

/** Slack errors a retry may cure; any other error Slack names is a refusal. */
const TRANSIENT_SLACK_ERRORS = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'ratelimited']);

/** SLACK_REFUSED for an error Slack answered that no retry will cure (the bot left the channel, the message is gone, a revoked token). */
function refusal(e: unknown): KeyturnError | undefined {
  const err = e as { code?: unknown; data?: { error?: unknown } };
  const named = err?.code === webApi.ErrorCode.PlatformError && typeof err.data?.error === 'string' ? err.data.error : undefined;
  if (!named || TRANSIENT_SLACK_ERRORS.has(named)) return undefined;
  return new KeyturnError('SLACK_REFUSED', `Slack refused the notice: ${named}`, 'Check the bot token, that the app is invited to the policy\'s slackChannel, and that the sign-off message was not deleted; the run goes on without it.', { slackError: named });
}

function slackNotice(opts: SlackNotifierOptions): (event: RunEvent) => Promise<void> {
  const { client, store } = opts;
  const render = (req: SignOffRequestView, progress: RunProgress) => requestMessage(req, progress, { webUiUrl: opts.webUiLink(req.workflowId, req.runId) });

  return async (event) => {
    if (event.type === 'signoff.requested') {
      const req = requestView(event);
      const channel = req.approvals.slackChannel ?? opts.defaultChannel;
      if (!channel) {
        opts.log?.warn({ workflowId: event.workflowId }, 'no Slack channel for this sign-off; set approvals.slackChannel in the policy');
        return;
      }
      const row = await store.upsertRequest({ workflowId: req.workflowId, runId: req.runId, channel, request: req });
      const msg = render(req, row.progress);
      if (row.ts) {
        await client.chat.update({ channel: row.channel, ts: row.ts, text: msg.text, blocks: msg.blocks as never });
        return;
      }
      const posted = await client.chat.postMessage({ channel, text: msg.text, blocks: msg.blocks as never, unfurl_links: false });
      if (posted.ts) await store.setTs(req.workflowId, posted.ts);
      return;
    }

    const row = await store.get(event.workflowId);
    if (!row || row.runId !== event.runId || !row.ts) {
      // No sign-off message for this run (Slack refused the request, or none was asked for): an
      // escalation still goes to its own channel, so someone hears of the run.
      const escalation = event.type === 'signoff.escalated' ? requestView(event).approvals.escalationChannel : null;
      if (escalation) await client.chat.postMessage({ channel: escalation, text: escalationText(requestView(event), {}, opts.webUiLink(event.workflowId, event.runId)) });
      return;
    }
    if (event.type === 'signoff.reminder') {
      await client.chat.postMessage({ channel: row.channel, thread_ts: row.ts, text: reminderText(row.request, row.progress, opts.webUiLink(row.workflowId, row.runId)) });
      return;
    }
    if (event.type === 'signoff.escalated') {
      const escalation = row.request.approvals.escalationChannel;
      const text = escalationText(row.request, row.progress, opts.webUiLink(row.workflowId, row.runId), escalation ? { channel: row.channel } : undefined);
      if (escalation) await client.chat.postMessage({ channel: escalation, text });
      else await client.chat.postMessage({ channel: row.channel, thread_ts: row.ts, reply_broadcast: true, text });
      return;
    }
    const patch = progressPatch(event);
    if (!patch) return;
    const updated = await store.mergeProgress(row.workflowId, patch);
    if (!updated?.ts) return;
    const msg = render(updated.request, updated.progress);
    await client.chat.update({ channel: updated.channel, ts: updated.ts, text: msg.text, blocks: msg.blocks as never });
  };
}
