import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Notifier } from '../agents/approvals/notifier.js';
import type { Policy } from '../agents/planner/policy-types.js';
import { webUiLink } from '../client/rotations.js';
import type { Env } from '../config/env.js';
import { KeyturnError } from '../config/errors.js';
import type { Pool } from '../db/pool.js';
import type { Logger } from '../infra/log/logger.js';
import { createSlackApp, type SlackApp, type SlackAppOptions } from '../slack/app.js';
import { pgClaims } from '../slack/claims.js';
import { slackNotifier, slackWebClient } from '../slack/notifier.js';
import { approvalsFromPolicy } from '../slack/port.js';
import { pgSlackMessages } from '../slack/store.js';
import { createTemporalPort, loadSlackChannelKey } from '../slack/temporal-port.js';

export type SlackEnv = Pick<Env, 'SLACK_SIGNING_SECRET' | 'SLACK_BOT_TOKEN' | 'SLACK_APP_TOKEN' | 'SLACK_APP_ID' | 'SLACK_TEAM_ID' | 'SLACK_API_URL' | 'TEMPORAL_NAMESPACE' | 'KEYTURN_TASK_QUEUE'>;

/** Slack is optional: configured only when the signing secret or bot token is set, and then it must be complete. */
export function slackConfigured(env: SlackEnv): boolean {
  const given = [env.SLACK_SIGNING_SECRET, env.SLACK_BOT_TOKEN].filter(Boolean).length;
  if (given === 0) return false;
  const missing = (['SLACK_SIGNING_SECRET', 'SLACK_BOT_TOKEN', 'SLACK_APP_ID', 'SLACK_TEAM_ID'] as const).filter((k) => !env[k]);
  if (missing.length) throw new KeyturnError('SLACK_CONFIG_INCOMPLETE', `Slack is partly configured: ${missing.join(', ')} missing`, 'Set all of SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN, SLACK_APP_ID and SLACK_TEAM_ID (README, "Slack in five steps"), or none.');
  return true;
}

/** The worker's Slack side: the notifier that posts and updates sign-off messages. */
export function slackNotifierFor(env: SlackEnv, pool: Pool, uiUrl: string | undefined, log: Logger): Notifier {
  return slackNotifier({
    client: slackWebClient(env.SLACK_BOT_TOKEN!, env.SLACK_API_URL),
    store: pgSlackMessages(pool),
    webUiLink: (workflowId, runId) => webUiLink(uiUrl, env.TEMPORAL_NAMESPACE, workflowId, runId),
    log,
  });
}

/** The HTTP side: the Bolt app whose buttons become attested signals; mounted at /slack/events. */
export async function slackAppFor(
  env: SlackEnv,
  deps: { pool: Pool; client: Client; policy: () => Policy; uiUrl: string | undefined; log: Logger; onHandled?: SlackAppOptions['onHandled'] },
): Promise<{ app: SlackApp; routes: (app: FastifyInstance) => void }> {
  const app = createSlackApp({
    signingSecret: env.SLACK_SIGNING_SECRET!,
    botToken: env.SLACK_BOT_TOKEN!,
    ...(env.SLACK_APP_TOKEN ? { appToken: env.SLACK_APP_TOKEN } : {}),
    appId: env.SLACK_APP_ID!,
    teamId: env.SLACK_TEAM_ID!,
    ...(env.SLACK_API_URL ? { slackApiUrl: env.SLACK_API_URL } : {}),
    approvals: approvalsFromPolicy(deps.policy),
    port: createTemporalPort({
      client: deps.client,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.KEYTURN_TASK_QUEUE,
      ...(deps.uiUrl ? { webUiUrl: deps.uiUrl } : {}),
      channelKey: await loadSlackChannelKey(),
      db: deps.pool,
    }),
    claims: pgClaims(deps.pool),
    log: deps.log,
    ...(deps.onHandled ? { onHandled: deps.onHandled } : {}),
  });
  if (env.SLACK_APP_TOKEN) {
    await app.start();
    return { app, routes: () => {} };
  }
  return { app, routes: app.fastifyRoutes() };
}
