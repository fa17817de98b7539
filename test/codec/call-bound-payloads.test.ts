import { randomBytes } from 'node:crypto';
import type { ActivitySerializationContext, Payload, WorkflowSerializationContext } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import type { Context } from '@temporalio/activity';
import { CALL_METADATA_KEY, EncryptionCodec } from '../../infra/temporal/codec/encryption-codec.js';
import { bindActivityResults } from '../../workers/result-binding.js';
import { isRefusedPayload, REFUSED_PAYLOAD_KEY, unbindResult } from '../../workflows/result-binding.js';
import { PayloadKeyring } from '../../infra/temporal/codec/keyring.js';
import { codeOf } from '../support/error-code.js';

const vote = { accepted: true, vote: { approver: 'cli:bob', decision: 'rollback' } };
const call = (workflowId: string, activityId: string): ActivitySerializationContext => ({ type: 'activity', namespace: 'default', workflowId, activityId, isLocal: false });
const workflow = (workflowId: string): WorkflowSerializationContext => ({ type: 'workflow', namespace: 'default', workflowId });
const valueOf = (p: Payload | undefined) => defaultPayloadConverter.fromPayload(p!);

/**
 * An activity's inputs and result are encrypted for the one call they belong to, and every other
 * payload for its namespace: someone who can schedule or answer tasks in the namespace, but holds
 * no payload key, cannot present a copy to another call, in another run or in the same one.
 */
describe('payloads bound to their activity call or namespace', () => {
  const keyring = new PayloadKeyring(randomBytes(32));
  const codec = new EncryptionCodec(keyring, 'client');
  const workerCodec = new EncryptionCodec(keyring, 'worker');
  const sealed = async (context = call('rotate-a', '7')) => (await codec.encode([defaultPayloadConverter.toPayload(vote)], context))[0]!;

  it('decrypts for the call it was encrypted for', async () => {
    expect(valueOf((await codec.decode([await sealed()], call('rotate-a', '7')))[0])).toEqual(vote);
  });

  it('is refused for another run\'s call (PAYLOAD_OTHER_CALL)', async () => {
    expect(await codeOf(async () => codec.decode([await sealed()], call('rotate-b', '7')))).toBe('PAYLOAD_OTHER_CALL');
  });

  it('is refused for another call of the same run', async () => {
    expect(await codeOf(async () => codec.decode([await sealed()], call('rotate-a', '8')))).toBe('PAYLOAD_OTHER_CALL');
  });

  it('names its call in clear, and a changed name fails authentication (PAYLOAD_TAMPERED)', async () => {
    const p = await sealed();
    expect(JSON.parse(Buffer.from(p.metadata![CALL_METADATA_KEY]!).toString())).toEqual(['default', 'rotate-a', '7']);
    const moved = { ...p, metadata: { ...p.metadata, [CALL_METADATA_KEY]: Buffer.from(JSON.stringify(['default', 'rotate-b', '7'])) } };
    expect(await codeOf(async () => codec.decode([moved], call('rotate-b', '7')))).toBe('PAYLOAD_TAMPERED');
    expect(await codeOf(async () => codec.decode([moved]))).toBe('PAYLOAD_TAMPERED');
  });

  it('in a worker, hands on a refusal the run handles, instead of failing the task over and over', async () => {
    const [refused] = await workerCodec.decode([await sealed()], call('rotate-b', '7'));
    expect(valueOf(refused)).toMatchObject({ [REFUSED_PAYLOAD_KEY]: 'PAYLOAD_OTHER_CALL' });
    expect(isRefusedPayload(valueOf(refused))).toBe(true);
    expect(unbindResult(valueOf(refused), { namespace: 'default', workflowId: 'rotate-b', activityId: '7', activityType: 'checkDecision', nonce: 'n' })).toBeUndefined();
  });

  it('in a worker, an input encrypted for another call is refused before the activity runs', async () => {
    const [refused] = await workerCodec.decode([await sealed()], call('rotate-b', '7'));
    let ran = false;
    const inbound = bindActivityResults({ info: { activityType: 'activateKey' } } as unknown as Context).inbound!;
    const run = inbound.execute!({ args: [valueOf(refused)], headers: {} }, async () => ((ran = true), undefined));
    await expect(run).rejects.toMatchObject({ type: 'PAYLOAD_OTHER_CALL', nonRetryable: true });
    expect(ran).toBe(false);
  });

  it('decrypts without a context (the codec endpoint, audit show) as the call it names', async () => {
    expect(valueOf((await codec.decode([await sealed()]))[0])).toEqual(vote);
  });

  it('binds workflow payloads (starts, signals, results) to their namespace only: a schedule encodes its runs\' input under its own id', async () => {
    const [p] = await codec.encode([defaultPayloadConverter.toPayload(vote)], workflow('schedule-x'));
    expect(JSON.parse(Buffer.from(p!.metadata![CALL_METADATA_KEY]!).toString())).toEqual(['namespace', 'default']);
    expect(valueOf((await codec.decode([p!], workflow('schedule-x-2026-12-01T00:00:00Z')))[0])).toEqual(vote);
  });

  it('refuses a workflow payload in another namespace (PAYLOAD_OTHER_CALL)', async () => {
    const [p] = await codec.encode([defaultPayloadConverter.toPayload(vote)], workflow('rotate-a'));
    expect(await codeOf(async () => codec.decode([p!], { ...workflow('rotate-a'), namespace: 'other' }))).toBe('PAYLOAD_OTHER_CALL');
  });

  it('refuses a workflow payload (a start, a signal) presented as an activity\'s input or result', async () => {
    const [p] = await codec.encode([defaultPayloadConverter.toPayload(vote)], workflow('rotate-a'));
    expect(await codeOf(async () => codec.decode([p!], call('rotate-a', '7')))).toBe('PAYLOAD_OTHER_CALL');
  });

  it('refuses an activity\'s payload presented as a workflow payload (a start, a signal)', async () => {
    expect(await codeOf(async () => codec.decode([await sealed()], workflow('rotate-a')))).toBe('PAYLOAD_OTHER_CALL');
  });

  describe('a payload from before labels, which names nothing', () => {
    const unlabelled = async () => (await codec.encode([defaultPayloadConverter.toPayload(vote)]))[0]!;
    const callId = 'kt1/01a2318c-32e4-7dd3-8dec-96365ddd2806/7/checkDecision';

    it('is refused as the input or result of a call with a call id (PAYLOAD_UNLABELLED)', async () => {
      const p = await unlabelled();
      expect(p.metadata![CALL_METADATA_KEY]).toBeUndefined();
      expect(await codeOf(async () => codec.decode([p], call('rotate-a', callId)))).toBe('PAYLOAD_UNLABELLED');
    });

    it('in a worker, is handed on as a refusal', async () => {
      const [refused] = await workerCodec.decode([await unlabelled()], call('rotate-a', callId));
      expect(valueOf(refused)).toMatchObject({ [REFUSED_PAYLOAD_KEY]: 'PAYLOAD_UNLABELLED' });
    });

    it('is refused for an activity without a workflow (standalone), which keyturn never runs', async () => {
      const standalone: ActivitySerializationContext = { type: 'activity', namespace: 'default', isLocal: false };
      expect(await codeOf(async () => codec.decode([await unlabelled()], standalone))).toBe('PAYLOAD_UNLABELLED');
      const [started] = await codec.encode([defaultPayloadConverter.toPayload(vote)], workflow('rotate-a'));
      expect(await codeOf(async () => codec.decode([started!], standalone))).toBe('PAYLOAD_OTHER_CALL');
    });

    it('is read for a call with a plain id, which only a run from before call ids makes', async () => {
      expect(valueOf((await codec.decode([await unlabelled()], call('rotate-a', '7')))[0])).toEqual(vote);
    });

    it('is read as a workflow payload (a start or signal of a run still open)', async () => {
      expect(valueOf((await codec.decode([await unlabelled()], workflow('rotate-a')))[0])).toEqual(vote);
    });

    it('is read without a context (the codec endpoint, audit show)', async () => {
      expect(valueOf((await codec.decode([await unlabelled()]))[0])).toEqual(vote);
    });
  });
});
