import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, type Payload } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { afterAll, describe, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startPolicyChange } from '../../client/policy.js';
import { startRevocation } from '../../client/revocations.js';
import { EncryptionCodec } from '../../infra/temporal/codec/encryption-codec.js';
import { loadPayloadKeyring } from '../../infra/temporal/codec/keyring.js';
import { eventually, policyDatabase, type PolicyDb } from '../policy/support.js';
import { staleJwksProxy } from '../rotation/stale-jwks-proxy.js';
import { result, seedActiveKey } from '../rotation/support.js';
import { startRotationStack } from '../support/rotation-stack.js';

/**
 * Records the histories `replay.test.ts` replays: real runs on the real server, each saved as the
 * worker read it (payloads decrypted by the worker's codec), so the fixtures hold no ciphertext and
 * need no key. Run with `npm run record:histories` (KEYTURN_HISTORY_SUFFIX names the code recorded,
 * e.g. `pre-groups` in a worktree of an older commit). Test data only: key ids, never keys.
 */
const OUT = process.env.KEYTURN_HISTORY_OUT ?? fileURLToPath(new URL('./histories', import.meta.url));
const SUFFIX = process.env.KEYTURN_HISTORY_SUFFIX ?? 'current';
const codec = new EncryptionCodec(loadPayloadKeyring(), 'worker');

async function decodeInPlace(node: unknown): Promise<void> {
  if (Array.isArray(node)) {
    for (const n of node) await decodeInPlace(n);
    return;
  }
  if (!node || typeof node !== 'object' || ArrayBuffer.isView(node)) return;
  const o = node as Record<string, unknown>;
  const encoding = (o.metadata as Record<string, Uint8Array> | undefined)?.encoding;
  if (encoding instanceof Uint8Array && o.data instanceof Uint8Array) {
    const text = Buffer.from(encoding).toString();
    if (text === 'binary/encrypted' || (o.metadata as Record<string, unknown>)['keyturn-display'] !== undefined) {
      const [plain] = await codec.decode([o as Payload]);
      o.metadata = plain!.metadata;
      o.data = plain!.data;
    }
    return;
  }
  for (const v of Object.values(o)) await decodeInPlace(v);
}

/**
 * protobufjs's own object form (bytes as base64, 64-bit integers as strings), which `History.fromObject`
 * reads back. Not the SDK's `historyToJSON`: with two copies of protobufjs installed it fails its
 * `instanceof Type` check ("type must be a Type").
 */
export const HISTORY_OBJECT_OPTIONS = { longs: String, enums: String, bytes: String } as const;
const historyObject = (history: temporal.api.history.v1.IHistory) => temporal.api.history.v1.History.toObject(temporal.api.history.v1.History.fromObject(history), HISTORY_OBJECT_OPTIONS);

async function save(name: string, handle: WorkflowHandle): Promise<void> {
  await handle.result().catch(() => undefined);
  const history = await handle.fetchHistory();
  await decodeInPlace(history);
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, `${name}.${SUFFIX}.json`);
  writeFileSync(file, `${JSON.stringify({ workflowId: handle.workflowId, history: historyObject(history) }, null, 1)}\n`);
  process.stderr.write(`recorded ${file}\n`);
}

describe('record workflow histories for replay', { timeout: 300_000 }, () => {
  const stops: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
  });

  it('rotations: completed, rejected', async () => {
    const stack = await startRotationStack({ name: 'rec-rotation' });
    stops.push(() => stack.stop());
    await seedActiveKey(stack);
    const done = await stack.rotate('quarterly');
    await stack.decide(done, 'approve', 'cli:alice');
    await result(done);
    await save('rotation-completed', done);
    const rejected = await stack.rotate('to be rejected');
    await stack.decide(rejected, 'reject', 'cli:bob', 'freeze week');
    await save('rotation-rejected', rejected);
  });

  it('a rotation sent a rollback while it retires the previous key (after its last wait)', async () => {
    let entered!: () => void;
    let release!: () => void;
    const retiring = new Promise<void>((r) => (entered = r));
    const released = new Promise<void>((r) => (release = r));
    const slowRetirement: ActivityInterceptorsFactory = (ctx) => ({
      inbound: {
        async execute(input, next) {
          if (ctx.info.activityType === 'retireKey') {
            entered();
            await released;
          }
          return next(input);
        },
      },
    });
    const stack = await startRotationStack({ name: 'rec-late-rollback', issuer: { postRetireOverlap: '6s' }, activityInterceptors: [slowRetirement] });
    stops.push(() => stack.stop());
    await seedActiveKey(stack);
    const handle = await stack.rotate('rollback sent too late');
    await stack.decide(handle, 'approve', 'cli:alice');
    await retiring;
    await stack.decide(handle, 'rollback', 'cli:bob', 'too late');
    release();
    await save('rotation-late-rollback', handle);
  });

  it('a rotation rolled back by a failed canary', async () => {
    const proxy = await staleJwksProxy();
    stops.push(() => proxy.close());
    const stack = await startRotationStack({ name: 'rec-rollback', canaryJwksBase: () => proxy.base });
    stops.push(() => stack.stop());
    proxy.target.url = stack.httpUrl;
    await seedActiveKey(stack);
    const handle = await stack.rotate('behind a stale CDN');
    await stack.decide(handle, 'approve', 'cli:alice');
    await save('rotation-rolled-back', handle);
  });

  it('a rotation rolled back before activation (a rollback attested during sign-off)', async () => {
    const stack = await startRotationStack({ name: 'rec-early-rollback' });
    stops.push(() => stack.stop());
    await seedActiveKey(stack);
    const handle = await stack.rotate('held before activation');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'rollback', 'cli:bob', 'hold this rotation');
    await stack.decide(handle, 'approve', 'cli:alice');
    await save('rotation-rolled-back-early', handle);
  });

  it('a key revocation', async () => {
    const stack = await startRotationStack({ name: 'rec-revocation', issuer: { accessTokenTtl: '60s', postRetireOverlap: '62s' } });
    stops.push(() => stack.stop());
    const kid = await seedActiveKey(stack);
    const handle = await startRevocation(stack.client, { kind: 'kid', value: kid, reason: 'key pasted in a CI log', requester: 'cli:requester', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'approve', 'cli:alice');
    await save('revocation-kid', handle);
  });

  it('a key revocation approved after a rotation replaced the key', async () => {
    const stack = await startRotationStack({ name: 'rec-rev-rotated', issuer: { accessTokenTtl: '60s', postRetireOverlap: '300s' } });
    stops.push(() => stack.stop());
    const kid = await seedActiveKey(stack);
    const handle = await startRevocation(stack.client, { kind: 'kid', value: kid, reason: 'key pasted in a CI log', requester: 'cli:requester', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    const rotation = await stack.rotate('scheduled hygiene');
    await stack.decide(rotation, 'approve', 'cli:alice');
    await stack.waitFor(rotation, (s) => s.phase === 'overlap', 'the rotation\'s overlap');
    await stack.decide(handle, 'approve', 'cli:bob');
    await save('revocation-kid-rotated-meanwhile', handle);
    await rotation.terminate('recorded');
  });

  it('a key revocation rejected as a false alarm', async () => {
    const stack = await startRotationStack({ name: 'rec-false-alarm', issuer: { accessTokenTtl: '60s', postRetireOverlap: '62s' } });
    stops.push(() => stack.stop());
    const kid = await seedActiveKey(stack);
    const handle = await startRevocation(stack.client, { kind: 'kid', value: kid, reason: 'a scanner flagged the key', requester: 'cli:requester', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'reject', 'cli:alice');
    await save('revocation-false-alarm', handle);
  });

  it('a token revocation whose notice subscribers cannot be read', async () => {
    const unreadable: ActivityInterceptorsFactory = (ctx) => ({
      inbound: {
        async execute(input, next) {
          if (ctx.info.activityType === 'listNoticeSubscribers') throw ApplicationFailure.nonRetryable('subscribers unreadable (recording)', 'RECORDING_UNREADABLE');
          return next(input);
        },
      },
    });
    const stack = await startRotationStack({ name: 'rec-unlisted', activityInterceptors: [unreadable] });
    stops.push(() => stack.stop());
    const handle = await startRevocation(stack.client, { kind: 'jti', value: `unlisted-${Date.now()}`, issuer: stack.issuer, reason: 'leaked token', requester: 'cli:requester', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'approve', 'cli:alice');
    await save('revocation-notices-unlisted', handle);
  });

  it('a rotation flooded with plaintext decision signals, some received after its deadline, with an approval among them', async () => {
    let entered!: () => void;
    let release!: () => void;
    const checking = new Promise<void>((r) => (entered = r));
    const released = new Promise<void>((r) => (release = r));
    let holding = true;
    const holdFirstCheck: ActivityInterceptorsFactory = (ctx) => ({
      inbound: {
        async execute(input, next) {
          if (holding && ctx.info.activityType === 'checkDecision') {
            holding = false;
            entered();
            await released;
          }
          return next(input);
        },
      },
    });
    const stack = await startRotationStack({ name: 'rec-flood', approvals: { timeout: '6s', escalationInterval: '2s' }, activityInterceptors: [holdFirstCheck] });
    stops.push(() => stack.stop());
    const handle = await stack.rotate('flooded');
    const { deadlines } = await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off' && s.deadlines.approval !== undefined, 'sign-off');
    const bare = new Client({ connection: stack.client.connection, namespace: stack.namespace }).workflow.getHandle(handle.workflowId);
    await bare.signal('approve', { attestation: 'not encrypted' });
    await checking;
    for (let i = 0; i < 25; i++) await bare.signal(i % 5 === 0 ? 'reject' : 'approve', { attestation: 'not encrypted' });
    while (Date.now() <= Date.parse(deadlines.approval!)) await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 5; i++) await bare.signal('approve', { attestation: 'not encrypted' });
    await stack.decide(handle, 'approve', 'cli:alice');
    release();
    await save('rotation-signal-flood', handle);
  });

  it('a policy change signed off and activated', async () => {
    const db: PolicyDb = await policyDatabase();
    stops.push(() => db.drop());
    const stack = await startRotationStack({ name: 'rec-policy', databaseUrl: db.url, policyFromStore: true, approvals: { approvers: ['cli:alice', 'cli:bob'], quorum: 2 } });
    stops.push(() => stack.stop());
    const text = readFileSync(stack.policyPath, 'utf8');
    const { issuers } = parse(text.slice(text.indexOf('```yaml') + 7, text.lastIndexOf('```'))) as { issuers: Array<Record<string, unknown> & { audiences: string[] }> };
    const next = issuers.map((i) => ({ ...i, audiences: [...i.audiences, 'https://api2.replay.test'] }));
    const handle = await startPolicyChange(stack.client, { text: `# policy\n\n\`\`\`yaml\n${stringify({ issuers: next })}\`\`\`\n`, reason: 'a second API', requester: 'cli:requester', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'approve', 'cli:alice');
    await eventually(async () => (await stack.status(handle)).approvals.length === 1, 30_000);
    await stack.decide(handle, 'approve', 'cli:bob');
    await save('policy-change-activated', handle);
  });
});
