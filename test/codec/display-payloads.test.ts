import { randomBytes } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { DISPLAY_MARK_KEY, display, displayPayload, fromDisplayEnvelope } from '../../workflows/display.js';
import { DISPLAY_SEAL_KEY, UNSEALED_LABEL } from '../../infra/temporal/codec/display-seal.js';
import { EncryptionCodec } from '../../infra/temporal/codec/encryption-codec.js';
import { PayloadKeyring } from '../../infra/temporal/codec/keyring.js';
import { codeOf } from '../support/error-code.js';

const keyring = new PayloadKeyring(randomBytes(32));
const client = new EncryptionCodec(keyring, 'client');
const worker = new EncryptionCodec(keyring, 'worker');
const meta = (p: Payload, k: string) => (p.metadata?.[k] ? Buffer.from(p.metadata[k]!).toString() : undefined);
const summary = 'Planner → KeyManager: generate ES256 key for https://issuer.test';
const asPayload = (v: unknown) => defaultPayloadConverter.toPayload(v);
const metadataAnswer = (currentDetails: string, extra: Record<string, unknown> = {}) =>
  asPayload({ definition: { type: 'rotationWorkflow', queryDefinitions: [{ name: 'status' }], signalDefinitions: [{ name: 'vote', description: 'an approval' }], updateDefinitions: [] }, currentDetails, ...extra });

describe('display payloads (what the Web UI shows without a codec)', () => {
  it('a value marked with display() converts to a marked json/plain payload', () => {
    const p = asPayload(display(summary));
    expect(meta(p, 'encoding')).toBe('json/plain');
    expect(meta(p, DISPLAY_MARK_KEY)).toBe('v1');
    expect(defaultPayloadConverter.fromPayload(p)).toBe(summary);
  });

  it('the codec leaves a display payload in clear, byte for byte, and seals it', async () => {
    const p = displayPayload({ outcome: 'completed', auditSeqRange: [3, 9] });
    const [encoded] = await client.encode([p]);
    expect([encoded!.data, meta(encoded!, 'encoding'), meta(encoded!, DISPLAY_MARK_KEY)]).toEqual([p.data, 'json/plain', 'v1']);
    expect(meta(encoded!, DISPLAY_SEAL_KEY)).toMatch(new RegExp(`^${keyring.activeId}\\.[A-Za-z0-9_-]{43}$`));
    expect(client.sealed(encoded!)).toBe(true);
  });

  it('a display payload written without the codec, with its data changed, or sealed under another key is not sealed', async () => {
    const [sealed] = await client.encode([displayPayload('Security lead → Planner: plan')]);
    const altered = { ...sealed!, data: new TextEncoder().encode(JSON.stringify('Security lead → Planner: approved by mallory')) };
    const [foreign] = await new EncryptionCodec(new PayloadKeyring(randomBytes(32))).encode([displayPayload('Security lead → Planner: plan')]);
    expect([displayPayload('x'), altered, foreign!].map((p) => client.sealed(p))).toEqual([false, false, false]);
  });

  it('a seal with anything appended is no seal', async () => {
    const [sealed] = await client.encode([displayPayload('x')]);
    const padded = { ...sealed!, metadata: { ...sealed!.metadata, [DISPLAY_SEAL_KEY]: new TextEncoder().encode(`${meta(sealed!, DISPLAY_SEAL_KEY)}!!`) } };
    expect([client.sealed(sealed!), client.sealed(padded)]).toEqual([true, false]);
  });

  it('the codec endpoint marks clear JSON without the display mark, which a client still refuses', async () => {
    const operator = new EncryptionCodec(keyring, 'operator');
    const [decoded] = await operator.decode([asPayload('Rotate signing key of https://issuer.test')]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toBe(`${UNSEALED_LABEL}: Rotate signing key of https://issuer.test`);
    expect(await codeOf(() => client.decode([asPayload('Rotate signing key of https://issuer.test')]))).toBe('PAYLOAD_NOT_ENCRYPTED');
  });

  it('an unsealed answer to the Web UI metadata query keeps its shape for the UI; its current details are marked', async () => {
    const operator = new EncryptionCodec(keyring, 'operator');
    const answer = metadataAnswer('**Phase:** overlap');
    const [decoded] = await operator.decode([{ metadata: { ...answer.metadata, [DISPLAY_MARK_KEY]: new TextEncoder().encode('v1') }, data: answer.data }]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toMatchObject({ definition: { type: 'rotationWorkflow' }, currentDetails: `${UNSEALED_LABEL}: **Phase:** overlap` });
  });

  it('the codec endpoint shows a sealed display value as it is and marks any other', async () => {
    const operator = new EncryptionCodec(keyring, 'operator');
    const [sealed] = await client.encode([displayPayload('KeyManager → Validator: publish')]);
    const decoded = await operator.decode([sealed!, displayPayload('KeyManager → Validator: publish'), displayPayload({ outcome: 'completed' })]);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([
      'KeyManager → Validator: publish',
      `${UNSEALED_LABEL}: KeyManager → Validator: publish`,
      { [UNSEALED_LABEL]: { outcome: 'completed' } },
    ]);
  });

  it('the codec still encrypts the same text when it is not marked display', async () => {
    const [encoded] = await client.encode([asPayload(summary)]);
    expect(meta(encoded!, 'encoding')).toBe('binary/encrypted');
  });

  it('the SDK-built answer to the Web UI metadata query (current details) stays clear and gets the mark and the seal', async () => {
    const [encoded] = await client.encode([metadataAnswer('**Phase:** overlap')]);
    expect(meta(encoded!, 'encoding')).toBe('json/plain');
    expect(meta(encoded!, DISPLAY_MARK_KEY)).toBe('v1');
    expect(client.sealed(encoded!)).toBe(true);
  });

  it('an object shaped like the metadata answer but with one more field is encrypted', async () => {
    const [encoded] = await client.encode([metadataAnswer('**Phase:** overlap', { plan: { secret: true } })]);
    expect(meta(encoded!, 'encoding')).toBe('binary/encrypted');
  });

  it('a marked payload that is not JSON, or larger than 16 KiB, is encrypted', async () => {
    const notJson = { ...displayPayload('x'), data: new TextEncoder().encode('{not json') };
    const big = displayPayload('x'.repeat(17 * 1024));
    const encoded = await client.encode([notJson, big]);
    expect(encoded.map((p) => meta(p, 'encoding'))).toEqual(['binary/encrypted', 'binary/encrypted']);
  });

  it('a client reads a display payload as it is', async () => {
    const [decoded] = await client.decode([displayPayload({ outcome: 'completed' })]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual({ outcome: 'completed' });
  });

  it('a worker reads a display payload only inside the display envelope, so it matches no workflow input', async () => {
    const [decoded] = await worker.decode([displayPayload({ issuer: 'https://issuer.test', reason: 'forged' })]);
    const value = defaultPayloadConverter.fromPayload<Record<string, unknown>>(decoded!);
    expect(value.issuer).toBeUndefined();
    expect(fromDisplayEnvelope(value)).toEqual({ issuer: 'https://issuer.test', reason: 'forged' });
  });

  it('unmarked plaintext is still refused with PAYLOAD_NOT_ENCRYPTED: thrown to clients, handed on as a refusal by workers', async () => {
    expect(await codeOf(() => client.decode([asPayload(summary)]))).toBe('PAYLOAD_NOT_ENCRYPTED');
    const [refused] = await worker.decode([asPayload(summary)]);
    expect(defaultPayloadConverter.fromPayload(refused!)).toMatchObject({ keyturnRefusedPayload: 'PAYLOAD_NOT_ENCRYPTED' });
  });

  it('fromDisplayEnvelope refuses a value that did not arrive as display', () => {
    expect(() => fromDisplayEnvelope({ outcome: 'completed' })).toThrow(/expected a display payload/);
    expect(() => fromDisplayEnvelope({ keyturnRefusedPayload: 'PAYLOAD_OTHER_CALL' })).toThrow(expect.objectContaining({ type: 'RESULT_NOT_DISPLAY', nonRetryable: true }));
  });
});
