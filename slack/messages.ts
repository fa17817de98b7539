import { groupNeeds } from '../agents/approvals/quorum.js';

/**
 * Block Kit for keyturn's Slack messages, as pure functions of the run's facts. Every text that a
 * person typed (reasons, issuers) is escaped, so it can never mention @channel or forge a link.
 */

export const ACTION_APPROVE = 'keyturn_approve';
export const ACTION_REJECT = 'keyturn_reject';
export const REJECT_MODAL = 'keyturn_reject_modal';
export const REASON_BLOCK = 'reason';
export const REASON_INPUT = 'reason_input';

export interface Timeline {
  publishAt?: string;
  activateAt?: string;
  retireOldAt?: string;
  removeOldAt?: string;
}

/** The facts of a sign-off request, as carried by the `signoff.requested` event. */
export interface SignOffRequestView {
  kind: 'rotation' | 'revocation' | 'policy';
  workflowId: string;
  runId: string;
  planHash: string;
  requester: string;
  subject: string;
  urgent: boolean;
  deadline?: string;
  summary: {
    issuer?: string;
    oldKid?: string | null;
    newKid?: string | null;
    newAlg?: string;
    timeline?: Timeline;
    reason?: string;
    [fact: string]: unknown;
  };
  approvals: { quorum: number; groups?: Array<{ label: string; quorum: number }>; slackChannel: string | null; escalationChannel: string | null; escalationGroup: string | null };
}

export interface VoteView {
  approver: string;
  decision: 'approve' | 'reject';
  viaGroup?: string;
  viaGroups?: string[];
  reason?: string;
}

/** What happened since the request, folded from later events. */
export interface RunProgress {
  votes?: VoteView[];
  signOff?: 'approved' | 'rejected' | 'expired';
  newKid?: string;
  published?: boolean;
  activated?: boolean;
  canary?: 'passed' | 'failed';
  canaryFailures?: string[];
  outcome?: string;
  reason?: string;
}

export interface ButtonValue {
  workflowId: string;
  runId: string;
  planHash: string;
}

type Block = Record<string, unknown>;
export interface SlackMessage {
  text: string;
  blocks: Block[];
}

/** Escapes the three characters Slack's mrkdwn gives meaning to. */
export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const SLACK_USER = /^[UW][A-Z0-9]{2,}$/;
const SLACK_GROUP = /^S[A-Z0-9]{2,}$/;

/** `<@U…>` for a Slack user id, `<!subteam^S…>` for a user group, escaped text otherwise. */
export function who(id: string): string {
  if (SLACK_USER.test(id)) return `<@${id}>`;
  if (SLACK_GROUP.test(id)) return `<!subteam^${id}>`;
  return `\`${esc(id)}\``;
}

export function shortHash(planHash: string): string {
  return planHash.slice(0, 12);
}

function shortKid(kid: string): string {
  return kid.length > 16 ? `${kid.slice(0, 16)}…` : kid;
}

export function encodeButtonValue(v: ButtonValue): string {
  return JSON.stringify({ workflowId: v.workflowId, runId: v.runId, planHash: v.planHash });
}

/** Parses a button value or modal metadata; undefined when it is not one of ours. */
export function decodeButtonValue(value: string | undefined): ButtonValue | undefined {
  if (typeof value !== 'string' || value.length > 2000) return undefined;
  try {
    const v = JSON.parse(value) as Record<string, unknown>;
    if (typeof v.workflowId === 'string' && typeof v.runId === 'string' && typeof v.planHash === 'string' && v.workflowId && v.runId && v.planHash) {
      return { workflowId: v.workflowId, runId: v.runId, planHash: v.planHash };
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** The sign-off is over (decided or expired) or the run has ended: no more buttons. */
export function isFinal(p: RunProgress): boolean {
  return p.signOff !== undefined || p.outcome !== undefined;
}

function title(req: SignOffRequestView): string {
  const what = req.kind === 'rotation' ? 'Key rotation' : req.kind === 'revocation' ? 'Revocation' : 'Policy change';
  return `${req.urgent ? '🚨 URGENT ' : ''}${what} of ${req.subject}: sign-off ${req.urgent ? 'needed now' : 'requested'}`;
}

function fmtTime(iso: string | undefined): string {
  if (!iso) return '–';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return esc(iso);
  return `<!date^${Math.floor(t / 1000)}^{date_short_pretty} {time_secs}|${esc(iso)}>`;
}

function keyLine(req: SignOffRequestView, p: RunProgress): string {
  const oldKid = req.summary.oldKid ? `\`${esc(shortKid(req.summary.oldKid))}\`` : '_none (first key)_';
  const newKid = p.newKid ?? req.summary.newKid ?? undefined;
  const next = newKid ? `\`${esc(shortKid(newKid))}\`` : `_new ${esc(req.summary.newAlg ?? '')} key (kid assigned at generation)_`;
  return `${oldKid} → ${next}`;
}

export function approvalsLine(req: Pick<SignOffRequestView, 'approvals'>, p: RunProgress): string {
  const approvals = (p.votes ?? []).filter((v) => v.decision === 'approve');
  const names = approvals.map((v) => {
    const groups = v.viaGroups?.length ? v.viaGroups : v.viaGroup ? [v.viaGroup] : [];
    return `${who(v.approver)}${groups.length ? ` (via ${groups.map(who).join(', ')})` : ''}`;
  });
  const needed = req.approvals.groups?.length ? `${approvals.length} (needs ${esc(groupNeeds(req.approvals.groups))})` : `${approvals.length} of ${req.approvals.quorum}`;
  return `*Approvals:* ${needed}${names.length ? ` — ${names.join(', ')}` : ''}`;
}

function progressLines(p: RunProgress): string[] {
  const lines: string[] = [];
  const rejection = (p.votes ?? []).find((v) => v.decision === 'reject');
  if (rejection) lines.push(`:x: Rejected by ${who(rejection.approver)}${rejection.reason ? `: ${esc(rejection.reason)}` : ''}`);
  if (p.signOff === 'approved') lines.push(':white_check_mark: Signed off');
  if (p.signOff === 'expired') lines.push(':hourglass: Sign-off expired');
  if (p.published) lines.push(`:outbox_tray: Published${p.newKid ? ` \`${esc(shortKid(p.newKid))}\`` : ''} in the JWKS`);
  if (p.activated) lines.push(':key: Activated: new tokens are signed with the new key');
  if (p.canary === 'passed') lines.push(':large_green_circle: Canary passed');
  if (p.canary === 'failed') lines.push(`:red_circle: Canary failed${p.canaryFailures?.length ? `: ${esc(p.canaryFailures.join('; '))}` : ''}`);
  if (p.outcome === 'completed') lines.push(':tada: Completed');
  if (p.outcome === 'rolled_back') lines.push(`:leftwards_arrow_with_hook: Rolled back${p.reason ? `: ${esc(p.reason)}` : ''}`);
  if (p.outcome === 'failed') lines.push(`:warning: Failed${p.reason ? `: ${esc(p.reason)}` : ''}`);
  if (p.outcome === 'expired' && p.signOff !== 'expired') lines.push(':hourglass: Expired');
  if (p.outcome === 'rejected' && !rejection) lines.push(`:x: Rejected${p.reason ? `: ${esc(p.reason)}` : ''}`);
  return lines;
}

/** The sign-off request message, with its progress; buttons only while sign-off is open. */
export function requestMessage(req: SignOffRequestView, progress: RunProgress, opts: { webUiUrl: string }): SlackMessage {
  const value = encodeButtonValue(req);
  const s = req.summary;
  const t = s.timeline ?? {};
  const blocks: Block[] = [
    { type: 'header', text: { type: 'plain_text', text: title(req).slice(0, 150), emoji: true } },
  ];
  if (req.urgent && req.approvals.escalationGroup) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `${who(req.approvals.escalationGroup)} urgent sign-off needed` } });
  }
  blocks.push(
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Issuer*\n${esc(s.issuer ?? req.subject)}` },
        { type: 'mrkdwn', text: `*Key*\n${keyLine(req, progress)}` },
        { type: 'mrkdwn', text: `*Algorithm*\n${esc(s.newAlg ?? '–')}` },
        { type: 'mrkdwn', text: `*Requested by*\n${who(req.requester)}` },
        { type: 'mrkdwn', text: `*Reason*\n${esc(s.reason ?? '–')}` },
        { type: 'mrkdwn', text: `*Plan*\n\`${esc(shortHash(req.planHash))}\`` },
      ],
    },
    ...(Array.isArray(s.diff)
      ? [{ type: 'section', text: { type: 'mrkdwn', text: `*Changes*\n${(s.diff as unknown[]).slice(0, 30).map((c) => `• ${esc(String(c))}`).join('\n') || '–'}`.slice(0, 2900) } }]
      : typeof s.target === 'string'
        ? [{ type: 'section', text: { type: 'mrkdwn', text: `*Revoke*\n${esc(s.target)}${s.issuanceHalted ? ' · issuance halted (contained)' : ' · contained'}` } }]
        : [{
            type: 'section',
            text: { type: 'mrkdwn', text: `*Timeline*\npublish ${fmtTime(t.publishAt)} · activate ${fmtTime(t.activateAt)} · retire old ${fmtTime(t.retireOldAt)}` },
          }]),
    { type: 'section', text: { type: 'mrkdwn', text: [approvalsLine(req, progress), ...progressLines(progress)].join('\n') } },
    {
      type: 'context',
      elements: [
        { type: 'mrkdwn', text: `<${opts.webUiUrl}|Run in Temporal Web UI> · \`${esc(req.workflowId)}\`${req.deadline && !isFinal(progress) ? ` · decide by ${fmtTime(req.deadline)}` : ''}` },
      ],
    },
  );
  if (!isFinal(progress)) {
    blocks.push({
      type: 'actions',
      block_id: 'keyturn_decision',
      elements: [
        {
          type: 'button',
          action_id: ACTION_APPROVE,
          style: 'primary',
          text: { type: 'plain_text', text: 'Approve' },
          value,
          confirm: {
            title: { type: 'plain_text', text: 'Approve this run?' },
            text: { type: 'mrkdwn', text: `You sign off plan \`${esc(shortHash(req.planHash))}\` for ${esc(req.subject)}. This is recorded in the audit log under your name.` },
            confirm: { type: 'plain_text', text: 'Approve' },
            deny: { type: 'plain_text', text: 'Cancel' },
          },
        },
        { type: 'button', action_id: ACTION_REJECT, style: 'danger', text: { type: 'plain_text', text: 'Reject' }, value },
      ],
    });
  }
  const text = `${title(req)} — plan ${shortHash(req.planHash)}, ${approvalsLine(req, progress).replace(/\*/g, '')}`;
  return { text, blocks };
}

/** The modal that asks a rejecting approver why; metadata binds it to the run and the message. */
export function rejectModal(v: ButtonValue & { channel?: string; messageTs?: string; subject?: string }): Record<string, unknown> {
  return {
    type: 'modal',
    callback_id: REJECT_MODAL,
    private_metadata: JSON.stringify({ workflowId: v.workflowId, runId: v.runId, planHash: v.planHash, channel: v.channel ?? null, messageTs: v.messageTs ?? null }),
    title: { type: 'plain_text', text: 'Reject run' },
    submit: { type: 'plain_text', text: 'Reject' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `Reject plan \`${esc(shortHash(v.planHash))}\`${v.subject ? ` for ${esc(v.subject)}` : ''}? The reason is shown to the requester and kept in the audit log.` } },
      {
        type: 'input',
        block_id: REASON_BLOCK,
        label: { type: 'plain_text', text: 'Reason' },
        element: { type: 'plain_text_input', action_id: REASON_INPUT, multiline: true, min_length: 3, max_length: 1000 },
      },
    ],
  };
}

export function reminderText(req: SignOffRequestView, p: RunProgress, webUiUrl: string): string {
  return `:bell: Reminder: plan \`${esc(shortHash(req.planHash))}\` for ${esc(req.subject)} still needs sign-off. ${approvalsLine(req, p)}${req.deadline ? `; deadline ${fmtTime(req.deadline)}` : ''}. <${webUiUrl}|Run>`;
}

export function escalationText(req: SignOffRequestView, p: RunProgress, webUiUrl: string, where?: { channel: string }): string {
  const group = req.approvals.escalationGroup ? `${who(req.approvals.escalationGroup)} ` : '';
  return `${group}:rotating_light: Sign-off for ${req.kind} of ${esc(req.subject)} (plan \`${esc(shortHash(req.planHash))}\`) is near its deadline${req.deadline ? ` ${fmtTime(req.deadline)}` : ''}. ${approvalsLine(req, p)}.${where ? ` Decide in <#${where.channel}>.` : ''} <${webUiUrl}|Run>`;
}

/** Why a click was not acted on, for the clicker only. */
export const explain = {
  notApprover: (subject: string) => `You are not an approver for ${esc(subject)} in the keyturn policy, so your click was not recorded.`,
  selfApproval: () => 'You requested this run; someone else must sign it off. Your click was not recorded.',
  staleButton: () => 'This button belongs to an earlier run or plan of this workflow; nothing was recorded. Use the newest message.',
  notWaiting: (phase: string) => `This run is no longer waiting for sign-off (it is ${esc(phase)}); nothing was recorded.`,
  unknownRun: () => 'keyturn cannot find this run any more; nothing was recorded.',
  rejectNeedsNamedIssuer: (subject: string) => `Only approvers of ${esc(subject)} may reject this revocation: a rejection lifts the containment on every issuer. Your click was not recorded.`,
  slackNotAllowed: (subject: string) => `The policy for ${esc(subject)} does not accept approvals from Slack; use the CLI.`,
  duplicate: () => 'Your decision on this run is already recorded.',
  failed: () => 'keyturn could not record your decision (the workflow service did not answer). Nothing was recorded; try again.',
  stateUnavailable: () => 'keyturn could not read this run (its worker or the workflow service did not answer). Nothing was recorded; try again in a minute.',
  groupsUnavailable: () => 'keyturn could not ask Slack who is in the approver user groups. Nothing was recorded; try again in a minute.',
  unexpected: () => 'keyturn could not finish handling this (an internal error, logged for the operators). Check with `/keyturn status` what was recorded before you try again.',
  recorded: (decision: string, subject: string) => `Your ${decision === 'approve' ? 'approval' : 'rejection'} of ${esc(subject)} was sent; the workflow verifies it before it counts.`,
};

export function statusText(runs: Array<{ workflowId: string; workflowStatus: string; phase: string; planHash?: string; approvals: Array<{ approver: string; decision: string }>; quorum?: number; deadlines: Record<string, string>; webUrl?: string }>): string {
  if (runs.length === 0) return 'No keyturn runs found.';
  return runs
    .map((s) => {
      const head = `${s.webUrl ? `<${s.webUrl}|${esc(s.workflowId)}>` : `\`${esc(s.workflowId)}\``} — ${esc(s.workflowStatus)}, phase *${esc(s.phase)}*`;
      const plan = s.planHash ? `, plan \`${esc(shortHash(s.planHash))}\`` : '';
      const votes = s.approvals.length ? `, approvals: ${s.approvals.map((v) => `${who(v.approver)} ${esc(v.decision)}`).join(', ')}` : '';
      const quorum = s.quorum ? ` (quorum ${s.quorum})` : '';
      const deadlines = Object.entries(s.deadlines).map(([k, v]) => `${esc(k)} ${fmtTime(v)}`).join(', ');
      return `${head}${plan}${votes}${quorum}${deadlines ? `; ${deadlines}` : ''}`;
    })
    .join('\n');
}

export const COMMAND_HELP = 'Usage: `/keyturn rotate <issuer> <reason>` · `/keyturn status [run]` · `/keyturn revoke …`';
