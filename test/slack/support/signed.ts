import { createHmac, randomBytes } from 'node:crypto';

/** Sends `body` as Slack does: form-encoded, signed with the v0 scheme over `v0:timestamp:body`. */
export async function sendSigned(
  url: string,
  body: string,
  o: { secret: string; timestamp?: number; signature?: string; unsigned?: boolean; contentType?: string },
): Promise<{ status: number; text: string }> {
  const timestamp = o.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = o.signature ?? `v0=${createHmac('sha256', o.secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  const headers: Record<string, string> = { 'content-type': o.contentType ?? 'application/x-www-form-urlencoded' };
  if (!o.unsigned) {
    headers['x-slack-signature'] = signature;
    headers['x-slack-request-timestamp'] = String(timestamp);
  }
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, text: await res.text() };
}

export const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
export const payloadBody = (payload: object) => form({ payload: JSON.stringify(payload) });
export const triggerId = () => `${Date.now()}.${randomBytes(4).readUInt32BE()}.${randomBytes(8).toString('hex')}`;

export interface Workspace {
  appId: string;
  teamId: string;
  channel: string;
  responseUrl: string;
}

/** A block_actions payload: one click on one of keyturn's buttons. */
export function buttonClick(w: Workspace, o: { actionId: string; value: string; user: string; trigger?: string; appId?: string; teamId?: string }) {
  const trigger = o.trigger ?? triggerId();
  return {
    type: 'block_actions',
    api_app_id: o.appId ?? w.appId,
    team: { id: o.teamId ?? w.teamId, domain: 'keyturn-test' },
    user: { id: o.user, username: o.user.toLowerCase(), name: o.user.toLowerCase(), team_id: o.teamId ?? w.teamId },
    channel: { id: w.channel, name: 'key-approvals' },
    container: { type: 'message', message_ts: '1700000000.000100', channel_id: w.channel, is_ephemeral: false },
    message: { type: 'message', ts: '1700000000.000100', text: 'sign-off', bot_id: 'BBOT0001' },
    token: 'legacy-verification-token',
    trigger_id: trigger,
    response_url: w.responseUrl,
    actions: [{ type: 'button', action_id: o.actionId, block_id: 'keyturn_decision', value: o.value, text: { type: 'plain_text', text: 'x' }, action_ts: `${Date.now() / 1000}` }],
  };
}

/** A view_submission payload of the reject modal. */
export function modalSubmission(w: Workspace, o: { privateMetadata: string; user: string; reason: string; trigger?: string }) {
  return {
    type: 'view_submission',
    api_app_id: w.appId,
    team: { id: w.teamId, domain: 'keyturn-test' },
    user: { id: o.user, username: o.user.toLowerCase(), name: o.user.toLowerCase(), team_id: w.teamId },
    token: 'legacy-verification-token',
    trigger_id: o.trigger ?? triggerId(),
    view: {
      id: 'V0REJECT1',
      hash: `${Date.now()}.abc`,
      type: 'modal',
      callback_id: 'keyturn_reject_modal',
      private_metadata: o.privateMetadata,
      team_id: w.teamId,
      app_id: w.appId,
      blocks: [],
      state: { values: { reason: { reason_input: { type: 'plain_text_input', value: o.reason } } } },
    },
    response_urls: [],
  };
}

/** The form fields of a slash command. */
export function slashCommand(w: Workspace, o: { text: string; user: string; trigger?: string }): Record<string, string> {
  return {
    token: 'legacy-verification-token',
    team_id: w.teamId,
    team_domain: 'keyturn-test',
    channel_id: w.channel,
    channel_name: 'key-approvals',
    user_id: o.user,
    user_name: o.user.toLowerCase(),
    command: '/keyturn',
    text: o.text,
    api_app_id: w.appId,
    response_url: w.responseUrl,
    trigger_id: o.trigger ?? triggerId(),
  };
}
