import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, WorkflowFailedError } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotation } from '../../client/rotations.js';
import { FAILURE_CONVERTER_PATH } from '../../infra/temporal/codec/data-converter.js';
import { EncryptionCodec } from '../../infra/temporal/codec/encryption-codec.js';
import { loadPayloadKeyring, parsePayloadKeys } from '../../infra/temporal/codec/keyring.js';
import { eventually } from '../policy/support.js';
import { result, seedActiveKey } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/** The payload key every test process holds (global set-up), as its key file's text. */
const testKeyText = readFileSync(process.env.KEYTURN_PAYLOAD_KEY_FILE!, 'utf8').trim();

/**
 * A client as keyturn's were before payload labels: it encrypts under `keyText` but names no place,
 * so its starts and signals could stand in anywhere. It reads with the keys the stack holds.
 */
function clientBeforeLabels(stack: RotationStack, keyText: string): Client {
  const writer = new EncryptionCodec(parsePayloadKeys(keyText, 'test key'));
  const reader = new EncryptionCodec(loadPayloadKeyring());
  const unlabelled: PayloadCodec = { encode: (ps) => writer.encode(ps), decode: (ps, context) => reader.decode(ps, context) };
  return new Client({ connection: stack.client.connection, namespace: stack.namespace, dataConverter: { payloadCodecs: [unlabelled], failureConverterPath: FAILURE_CONVERTER_PATH } });
}

const startBeforeLabels = (stack: RotationStack, keyText: string, reason: string) =>
  startRotation(clientBeforeLabels(stack, keyText), { issuer: stack.issuer, reason, requester: { kind: 'cli', id: 'cli:requester' }, taskQueue: stack.taskQueue });

describe('a start that names no place, under the active payload key', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'unlabelled-active' });
    await seedActiveKey(stack);
  }, 120_000);
  afterAll(() => stack?.stop());

  it('is refused: the run fails with PAYLOAD_UNLABELLED, and nothing is planned for it', async () => {
    const handle = await startBeforeLabels(stack, testKeyText, 'a start copied from before the upgrade');
    const failed = await handle.result().then(() => undefined, (e: unknown) => e);
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    expect((failed as WorkflowFailedError).cause).toMatchObject({ type: 'PAYLOAD_UNLABELLED', nonRetryable: true });
    const planned = await stack.pool.query(`SELECT seq FROM audit_log WHERE action = 'rotation.planned' AND actor ->> 'workflowId' = $1`, [handle.workflowId]);
    expect(planned.rowCount).toBe(0);
  });
});

describe('a run started before the upgrade, once a new payload key is put first', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyturn-upgraded-key-'));
    const file = join(dir, 'payload-key');
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n${testKeyText}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    process.env.KEYTURN_PAYLOAD_KEY_FILE = file;
    stack = await startRotationStack({ name: 'unlabelled-upgraded' });
    await seedActiveKey(stack);
  }, 120_000);
  afterAll(() => stack?.stop());

  it('is read under the old key, now decrypt-only, and completes', async () => {
    const handle = await startBeforeLabels(stack, testKeyText, 'started before the upgrade');
    await eventually(async () => (await stack.status(handle)).phase === 'awaiting_sign_off', 30_000);
    await stack.decide(handle, 'approve', 'cli:alice');
    expect((await result(handle)).outcome).toBe('completed');
  });
});
