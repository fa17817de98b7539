import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SLACK_ENDPOINT } from '../../slack/app.js';
import { ACTION_APPROVE } from '../../slack/messages.js';
import { buttonValueOf, SIGNING_SECRET, startHarness, waitingRun, type Harness } from './support/harness.js';
import { buttonClick, payloadBody, sendSigned } from './support/signed.js';

describe('Slack endpoint mounted on a Fastify server', () => {
  let h: Harness;
  let fastify: FastifyInstance;
  let url: string;
  const run = waitingRun();

  beforeEach(async () => {
    h = await startHarness();
    h.port.runs.set(run.workflowId, run);
    fastify = Fastify({ logger: false, bodyLimit: 64 * 1024 });
    fastify.get('/healthz', async () => ({ ok: true }));
    h.app.fastifyRoutes()(fastify);
    url = `${await fastify.listen({ port: 0, host: '127.0.0.1' })}${SLACK_ENDPOINT}`;
  });
  afterEach(async () => {
    await fastify.close();
    await h.stop();
  });

  it('a signed approve through the Fastify route decides once', async () => {
    const res = await sendSigned(url, payloadBody(buttonClick(h.workspace, { actionId: ACTION_APPROVE, value: buttonValueOf(run), user: 'U0ALICE' })), { secret: SIGNING_SECRET });
    expect(res.status).toBe(200);
    expect(await h.nextHandled()).toMatchObject({ outcome: 'decided' });
    expect(h.port.decisions).toHaveLength(1);
  });

  it('a forged signature through the Fastify route is refused with 401 and decides nothing', async () => {
    const res = await sendSigned(url, payloadBody(buttonClick(h.workspace, { actionId: ACTION_APPROVE, value: buttonValueOf(run), user: 'U0ALICE' })), { secret: 'not-the-secret' });
    expect(res.status).toBe(401);
    expect(h.port.decisions).toEqual([]);
  });
});
