import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import type { PayloadKeyring } from './keyring.js';

/**
 * Display payloads stay in clear for the Web UI, so anyone who can write to Temporal could write
 * one too (a start's summary, a forged result). keyturn's own codec seals every display payload it
 * sends with an HMAC under a key derived from the payload key; readers that hold the key (the
 * codec endpoint, `keyturn audit show`) tell sealed payloads from any other.
 */
export const DISPLAY_SEAL_KEY = 'keyturn-display-seal';
const SEAL_INFO = 'keyturn display seal v1';

const sealKeys = new WeakMap<Buffer, Buffer>();
function sealKeyOf(payloadKey: Buffer): Buffer {
  let k = sealKeys.get(payloadKey);
  if (!k) {
    k = Buffer.from(hkdfSync('sha256', payloadKey, Buffer.alloc(0), SEAL_INFO, 32));
    sealKeys.set(payloadKey, k);
  }
  return k;
}

const mac = (key: Buffer, data: Uint8Array) => createHmac('sha256', sealKeyOf(key)).update(SEAL_INFO).update('\0').update(data).digest();

/** The payload with its seal (`<payload key id>.<base64url HMAC>`) in its metadata; data untouched. */
export function sealDisplay(p: Payload, keyring: PayloadKeyring): Payload {
  const { id, key } = keyring.active();
  const seal = `${id}.${mac(key, p.data ?? new Uint8Array()).toString('base64url')}`;
  return { metadata: { ...p.metadata, [DISPLAY_SEAL_KEY]: new TextEncoder().encode(seal) }, data: p.data };
}

/** True when the payload carries a seal made under a key of this keyring over exactly its data. */
export function displaySealed(p: Payload, keyring: PayloadKeyring): boolean {
  const raw = p.metadata?.[DISPLAY_SEAL_KEY];
  const seal = raw ? SEAL_FORMAT.exec(Buffer.from(raw).toString('utf8')) : null;
  const key = seal ? keyring.byId(seal[1]!) : undefined;
  if (!seal || !key) return false;
  const expected = mac(key, p.data ?? new Uint8Array());
  const given = Buffer.from(seal[2]!, 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** `<16 hex key id>.<43 base64url characters of HMAC-SHA256>`, nothing else. */
const SEAL_FORMAT = /^([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

export const UNSEALED_LABEL = '⚠ not sealed by keyturn';

/**
 * What an operator sees for an unsealed display value: the same value, visibly marked. The Web UI's
 * metadata-query answer keeps its shape (the UI reads its definition); its current details are marked.
 */
export function markedUnsealed(value: unknown): unknown {
  if (typeof value === 'string') return `${UNSEALED_LABEL}: ${value}`;
  if (value && typeof value === 'object' && 'definition' in value && typeof (value as { currentDetails?: unknown }).currentDetails === 'string') {
    const answer = value as unknown as { currentDetails: string };
    return { ...answer, currentDetails: `${UNSEALED_LABEL}: ${answer.currentDetails}` };
  }
  return { [UNSEALED_LABEL]: value };
}
