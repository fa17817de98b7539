import { writeFile } from 'node:fs/promises';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { JWK } from 'jose';
import { signAttestation } from '../agents/approvals/attestation.js';
import { generateChannelKey, registerChannelKey, type ChannelKeyAudit } from '../agents/approvals/channel-keys.js';
import { startSigner } from '../agents/approvals/start-request.js';
import { issuersWithLiveTokens } from '../agents/token-issuer/issued-tokens.js';
import type { Queryable } from '../agents/shared/db.js';
import { startRevocation } from '../client/revocations.js';
import { rotationStatus, startRotation, visibilityString, webUiLink } from '../client/rotations.js';
import { readSecretFile } from '../agents/shared/secret-file.js';
import { KeyturnError } from '../config/errors.js';
import type { RunStatus } from '../workflows/types.js';
import type { KeyturnPort, RunState, RunStatusView } from './port.js';

export interface SlackChannelKey {
  kid: string;
  privateJwk: JWK;
}

const ISSUER = defineSearchAttributeKey('KeyturnIssuer', SearchAttributeType.KEYWORD);
const REQUESTER = defineSearchAttributeKey('KeyturnRequester', SearchAttributeType.KEYWORD);

export interface TemporalPortOptions {
  client: Client;
  namespace: string;
  taskQueue: string;
  /** Temporal Web UI base URL for links. */
  webUiUrl?: string;
  /** The Slack app's attestation key; its public half is in approval_channel_keys (channel 'slack'). */
  channelKey: SlackChannelKey;
  /** How many runs `/keyturn status` lists. */
  listLimit?: number;
  /** Where a kid's issuer is looked up (signing_keys). */
  db: Queryable;
}

/**
 * The workflow side of the Slack app, on @temporalio/client: reads a run through its `status`
 * query, and delivers a decision as the `approve`/`reject`/`rollback` signal whose payload is
 * `{ attestation }`, signed with the Slack channel's key and bound to workflow id, run id and plan.
 */
export function createTemporalPort(opts: TemporalPortOptions): KeyturnPort {
  const { client } = opts;
  const link = (workflowId: string, runId?: string) => webUiLink(opts.webUiUrl, opts.namespace, workflowId, runId);
  // Slack authenticated the user who asked (signed request): the app vouches for them in the start request.
  const signStart = startSigner('slack', opts.channelKey);
  return {
    webUiLink: link,

    async runState(workflowId): Promise<RunState | undefined> {
      const handle = client.workflow.getHandle(workflowId);
      let description;
      try {
        description = await handle.describe();
      } catch (e) {
        if (e instanceof WorkflowNotFoundError) return undefined;
        throw e;
      }
      const running = description.status.name === 'RUNNING';
      const status: RunStatus = running ? await handle.query<RunStatus>('status') : { phase: description.status.name.toLowerCase(), approvals: [], deadlines: {} };
      const requester = description.typedSearchAttributes.get(REQUESTER);
      const kind = description.type === 'revocationWorkflow' ? 'revocation' : description.type === 'policyChangeWorkflow' ? 'policy' : 'rotation';
      return {
        workflowId,
        runId: description.runId,
        subject: kind === 'policy' ? 'the keyturn policy' : (description.typedSearchAttributes.get(ISSUER) ?? ''),
        kind,
        phase: status.phase,
        ...(status.signOff ? { approvals: status.signOff } : {}),
        ...(status.planHash ? { planHash: status.planHash } : {}),
        // KeyturnRequester is requesterLabel(): `slack:<user id>` for Slack requesters (a Slack id
        // holds no colon, so stripping the prefix gives the id the sign-off gate compares).
        ...(requester ? { requester: requester.replace(/^slack:/, '') } : {}),
        decided: !running || status.phase !== 'awaiting_sign_off',
      };
    },

    async decide(input) {
      const attestation = await signAttestation(
        {
          channel: 'slack',
          approver: input.approver,
          decision: input.decision,
          workflowId: input.workflowId,
          runId: input.runId,
          planHash: input.planHash,
          ...(input.reason ? { reason: input.reason } : {}),
          ...(input.viaGroup ? { viaGroup: input.viaGroup } : {}),
          ...(input.viaGroups?.length ? { viaGroups: input.viaGroups } : {}),
        },
        opts.channelKey,
      );
      await client.workflow.getHandle(input.workflowId, input.runId).signal(input.decision, { attestation });
    },

    async startRotation(input) {
      const handle = await startRotation(client, { issuer: input.issuer, reason: input.reason, requester: { kind: 'slack', id: input.requester }, taskQueue: opts.taskQueue, signStart });
      const { runId } = await handle.describe();
      return { workflowId: handle.workflowId, runId, webUrl: link(handle.workflowId, runId) };
    },

    /** Starts a revocation (contained at once); the Slack app has checked the requester may revoke for the issuer. */
    async revoke(input) {
      const handle = await startRevocation(client, { kind: input.kind, value: input.value, reason: input.reason, requester: input.requester, taskQueue: opts.taskQueue, signStart, ...(input.kind !== 'kid' ? { issuer: input.issuer } : {}) });
      const { runId } = await handle.describe();
      return { workflowId: handle.workflowId, runId, webUrl: link(handle.workflowId, runId) };
    },

    tokenIssuers: (kind, value) => issuersWithLiveTokens(opts.db, kind, value),

    async kidIssuer(kid) {
      const { rows } = await opts.db.query<{ issuer: string }>('SELECT issuer FROM signing_keys WHERE kid = $1', [kid]);
      return rows[0]?.issuer;
    },

    async status({ issuers, workflowId }): Promise<RunStatusView[]> {
      if (issuers.length === 0) return [];
      if (workflowId) {
        // The run's issuer is read before its status is queried: nothing of another issuer's run is read, not even whether it exists.
        const described = await client.workflow.getHandle(workflowId).describe().then(
          (d) => ({ issuer: d.typedSearchAttributes.get(ISSUER), runId: d.runId }),
          (e: unknown) => {
            if (e instanceof WorkflowNotFoundError) return undefined;
            throw e;
          },
        );
        if (described?.issuer === undefined || !issuers.includes(described.issuer)) return [];
        // That very run: a newer one under the same id would be another run, not checked here.
        const s = await rotationStatus(client, workflowId, described.runId);
        return [{ workflowId, runId: s.runId, workflowStatus: s.workflowStatus, phase: s.phase, ...(s.planHash ? { planHash: s.planHash } : {}), approvals: s.approvals, ...(s.quorum ? { quorum: s.quorum } : {}), deadlines: s.deadlines, webUrl: link(workflowId) }];
      }
      const runs: RunStatusView[] = [];
      const limit = opts.listLimit ?? 10;
      const query = `(WorkflowType = 'rotationWorkflow' OR WorkflowType = 'revocationWorkflow') AND KeyturnIssuer IN (${issuers.map(visibilityString).join(', ')})`;
      for await (const wf of client.workflow.list({ query, pageSize: limit })) {
        runs.push({ workflowId: wf.workflowId, runId: wf.runId, workflowStatus: wf.status.name, phase: wf.status.name.toLowerCase(), approvals: [], deadlines: {}, webUrl: link(wf.workflowId) });
        if (runs.length >= limit) break;
      }
      return runs;
    },
  };
}

/**
 * The Slack channel's private attestation key: KEYTURN_SLACK_KEY_FILE (a 0600 JSON file
 * `{ kid, privateJwk }`) or KEYTURN_SLACK_KEY (the same JSON). Both set is refused as ambiguous.
 */
export async function loadSlackChannelKey(env: NodeJS.ProcessEnv = process.env): Promise<SlackChannelKey> {
  const file = env.KEYTURN_SLACK_KEY_FILE;
  const inline = env.KEYTURN_SLACK_KEY;
  if (file && inline) throw new KeyturnError('SLACK_KEY_AMBIGUOUS', 'both KEYTURN_SLACK_KEY_FILE and KEYTURN_SLACK_KEY are set', 'Set only one of them.');
  let text: string;
  if (file) {
    text = readSecretFile(file);
  } else if (inline) {
    text = inline;
  } else {
    throw new KeyturnError('SLACK_KEY_MISSING', 'no Slack attestation key configured', 'Create one with createSlackChannelKey (slack/temporal-port.ts) and set KEYTURN_SLACK_KEY_FILE to it.');
  }
  let parsed: Partial<SlackChannelKey>;
  try {
    parsed = JSON.parse(text) as Partial<SlackChannelKey>;
  } catch {
    throw new KeyturnError('SLACK_KEY_INVALID', 'the Slack attestation key is not JSON', 'Expected `{ "kid": …, "privateJwk": { "kty": "OKP", "crv": "Ed25519", "d": … } }`.');
  }
  if (typeof parsed.kid !== 'string' || !parsed.privateJwk?.d || parsed.privateJwk.crv !== 'Ed25519') {
    throw new KeyturnError('SLACK_KEY_INVALID', 'the Slack attestation key is not an Ed25519 private JWK with a kid', 'Create one with createSlackChannelKey.');
  }
  return { kid: parsed.kid, privateJwk: parsed.privateJwk };
}

/** Creates the Slack channel's key: private half to `path` (0600, never overwritten), public half registered. */
export async function createSlackChannelKey(db: Queryable, path: string, audit: ChannelKeyAudit): Promise<{ kid: string }> {
  const key = await generateChannelKey();
  await writeFile(path, `${JSON.stringify({ kid: key.kid, privateJwk: key.privateJwk })}\n`, { mode: 0o600, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EEXIST') throw new KeyturnError('FILE_EXISTS', `${path} already exists`, 'keyturn never overwrites a key file; choose another path.');
    throw e;
  });
  await registerChannelKey(db, { kid: key.kid, channel: 'slack', publicJwk: key.publicJwk }, audit);
  return { kid: key.kid };
}

