import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import type { Payload } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import type { KeyturnError } from '../../config/errors.js';
import { EncryptionCodec } from '../../infra/temporal/codec/encryption-codec.js';
import { loadPayloadKeyring, PayloadKeyring, payloadKeyringFromEnv } from '../../infra/temporal/codec/keyring.js';
import { codeOf } from '../support/error-code.js';

const plan = { planHash: 'f'.repeat(64), issuer: 'https://issuer.test', newKid: 'kid-1' };
const payload = (): Payload => defaultPayloadConverter.toPayload(plan);
const meta = (p: Payload, k: string) => Buffer.from(p.metadata![k]!).toString();
const keyFile = (text: string, mode: number) => {
  const path = join(mkdtempSync(join(tmpdir(), 'keyturn-pk-')), 'payload-key');
  writeFileSync(path, text, { mode });
  return path;
};

describe('EncryptionCodec', () => {
  const keyring = new PayloadKeyring(randomBytes(32));
  const codec = new EncryptionCodec(keyring);

  it('in a worker, hands on an altered payload as a refusal (PAYLOAD_TAMPERED) instead of failing the task over and over', async () => {
    const [encrypted] = await codec.encode([payload()]);
    const data = Buffer.from(encrypted!.data!);
    data[data.length - 1]! ^= 1;
    const [refused] = await new EncryptionCodec(keyring, 'worker').decode([{ ...encrypted!, data }]);
    expect(defaultPayloadConverter.fromPayload(refused!)).toMatchObject({ keyturnRefusedPayload: 'PAYLOAD_TAMPERED' });
  });

  it('in a worker, still throws for an activity\'s payload under a key it does not hold: the run waits until the key is configured', async () => {
    const call = { type: 'activity' as const, namespace: 'default', workflowId: 'rotate-a', activityId: '7', isLocal: false };
    const [foreign] = await new EncryptionCodec(new PayloadKeyring(randomBytes(32))).encode([payload()], call);
    expect(await codeOf(() => new EncryptionCodec(keyring, 'worker').decode([foreign!], call))).toBe('PAYLOAD_KEY_UNKNOWN');
  });

  it('in a worker, hands on a signal or start under a key it does not hold as a refusal: anyone who may signal could write one', async () => {
    const run = { type: 'workflow' as const, namespace: 'default', workflowId: 'rotate-a' };
    const [foreign] = await new EncryptionCodec(new PayloadKeyring(randomBytes(32))).encode([payload()], run);
    const [refused] = await new EncryptionCodec(keyring, 'worker').decode([foreign!], run);
    expect(defaultPayloadConverter.fromPayload(refused!)).toMatchObject({ keyturnRefusedPayload: 'PAYLOAD_KEY_UNKNOWN' });
  });

  it('a refusal in place of a failure\'s attributes reads as a refusal, not as the failure\'s clear message', async () => {
    const [encrypted] = await codec.encode([payload()]);
    const [refused] = await new EncryptionCodec(keyring, 'worker').decode([{ ...encrypted!, metadata: { ...encrypted!.metadata, 'encryption-key-id': Buffer.from('0000000000000000') } }], { type: 'workflow', namespace: 'default', workflowId: 'rotate-a' });
    expect(defaultPayloadConverter.fromPayload(refused!)).toMatchObject({ message: "refused by keyturn's payload codec (PAYLOAD_KEY_UNKNOWN)", stack_trace: '' });
  });

  it('round-trips a payload, metadata included', async () => {
    const [encrypted] = await codec.encode([payload()]);
    const [back] = await codec.decode([encrypted!]);
    expect(defaultPayloadConverter.fromPayload(back!)).toEqual(plan);
    expect(meta(back!, 'encoding')).toBe('json/plain');
  });

  it('writes binary/encrypted with the cipher and the key id, and nothing of the original', async () => {
    const [encrypted] = await codec.encode([payload()]);
    expect(Object.keys(encrypted!.metadata!).sort()).toEqual(['encoding', 'encryption-cipher', 'encryption-key-id']);
    expect(meta(encrypted!, 'encoding')).toBe('binary/encrypted');
    expect(meta(encrypted!, 'encryption-cipher')).toBe('AES-256-GCM');
    expect(meta(encrypted!, 'encryption-key-id')).toBe(keyring.activeId);
    expect(Buffer.from(encrypted!.data!).toString('latin1')).not.toContain('planHash');
  });

  it('uses a fresh nonce each time: the same payload never encrypts to the same bytes', async () => {
    const [a, b] = await codec.encode([payload(), payload()]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('refuses a plaintext payload with PAYLOAD_NOT_ENCRYPTED instead of passing it through', async () => {
    expect(await codeOf(() => codec.decode([payload()]))).toBe('PAYLOAD_NOT_ENCRYPTED');
  });

  it('refuses a payload under a key it does not hold with PAYLOAD_KEY_UNKNOWN', async () => {
    const [other] = await new EncryptionCodec(new PayloadKeyring(randomBytes(32))).encode([payload()]);
    expect(await codeOf(() => codec.decode([other!]))).toBe('PAYLOAD_KEY_UNKNOWN');
  });

  it('refuses a payload with one flipped bit with PAYLOAD_TAMPERED', async () => {
    const [encrypted] = await codec.encode([payload()]);
    const data = Buffer.from(encrypted!.data!);
    data[20] = data[20]! ^ 1;
    expect(await codeOf(() => codec.decode([{ ...encrypted!, data }]))).toBe('PAYLOAD_TAMPERED');
  });

  it('refuses a payload relabelled with another key id of the keyring with PAYLOAD_TAMPERED', async () => {
    const older = randomBytes(32);
    const both = new PayloadKeyring(randomBytes(32), [older]);
    const [encrypted] = await new EncryptionCodec(both).encode([payload()]);
    const relabelled = { ...encrypted!, metadata: { ...encrypted!.metadata, 'encryption-key-id': new TextEncoder().encode(new PayloadKeyring(older).activeId) } };
    expect(await codeOf(() => new EncryptionCodec(both).decode([relabelled]))).toBe('PAYLOAD_TAMPERED');
  });

  it('after a payload key rotation, still decrypts what the previous key encrypted', async () => {
    const old = randomBytes(32);
    const [before] = await new EncryptionCodec(new PayloadKeyring(old)).encode([payload()]);
    const rotated = new EncryptionCodec(new PayloadKeyring(randomBytes(32), [old]));
    expect(defaultPayloadConverter.fromPayload((await rotated.decode([before!]))[0]!)).toEqual(plan);
  });
});

describe('payload keyring configuration', () => {
  it('reads KEYTURN_PAYLOAD_KEY_FILE with mode 0600: the first line encrypts, later lines only decrypt', () => {
    const [a, b] = [randomBytes(32), randomBytes(32)];
    const ring = payloadKeyringFromEnv({ KEYTURN_PAYLOAD_KEY_FILE: keyFile(`${a.toString('base64')}\n${b.toString('base64')}\n`, 0o600) })!;
    expect(ring.activeId).toBe(new PayloadKeyring(a).activeId);
    expect(ring.ids).toEqual([new PayloadKeyring(a).activeId, new PayloadKeyring(b).activeId]);
  });

  it('refuses a key file others can read with SECRET_FILE_PERMISSIONS', async () => {
    expect(await codeOf(() => payloadKeyringFromEnv({ KEYTURN_PAYLOAD_KEY_FILE: keyFile(randomBytes(32).toString('base64'), 0o644) }))).toBe('SECRET_FILE_PERMISSIONS');
  });

  it('refuses a key that is not 32 bytes with PAYLOAD_KEY_INVALID, without echoing it', async () => {
    const bad = randomBytes(16).toString('base64');
    try {
      payloadKeyringFromEnv({ KEYTURN_PAYLOAD_KEY: bad });
      expect.unreachable();
    } catch (e) {
      expect((e as KeyturnError).code).toBe('PAYLOAD_KEY_INVALID');
      expect(`${(e as Error).message} ${(e as KeyturnError).hint}`).not.toContain(bad);
    }
  });

  it('refuses both KEYTURN_PAYLOAD_KEY and KEYTURN_PAYLOAD_KEY_FILE with PAYLOAD_KEY_CONFIG_AMBIGUOUS', async () => {
    const k = randomBytes(32).toString('base64');
    expect(await codeOf(() => payloadKeyringFromEnv({ KEYTURN_PAYLOAD_KEY: k, KEYTURN_PAYLOAD_KEY_FILE: keyFile(k, 0o600) }))).toBe('PAYLOAD_KEY_CONFIG_AMBIGUOUS');
  });

  it('never runs without a key: PAYLOAD_KEY_MISSING outside development', async () => {
    expect(await codeOf(() => loadPayloadKeyring({ env: {} }))).toBe('PAYLOAD_KEY_MISSING');
  });

  it('in development, generates a 0600 key in the data dir once and reuses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyturn-devkey-'));
    const first = loadPayloadKeyring({ env: {}, devDataDir: dir, create: true });
    expect(loadPayloadKeyring({ env: {}, devDataDir: dir }).activeId).toBe(first.activeId);
  });

  it('keeps its keys out of JSON and util.inspect', () => {
    const key = randomBytes(32);
    const ring = new PayloadKeyring(key);
    const shown = `${JSON.stringify(ring)} ${inspect(ring, { showHidden: true, depth: 5 })}`;
    expect(shown).not.toContain(key.toString('base64'));
    expect(shown).not.toContain(key.toString('hex'));
  });
});
