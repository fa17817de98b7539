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
  if (!raw) return false;
  const [id, tag, extra] = Buffer.from(raw).toString('utf8').split('.');
  const key = id ? keyring.byId(id) : undefined;
  if (!key || !tag || extra !== undefined) return false;
  const expected = mac(key, p.data ?? new Uint8Array());
  const given = Buffer.from(tag, 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export const UNSEALED_LABEL = '⚠ not sealed by keyturn';

/** What an operator sees for an unsealed display value: the same value, visibly marked. */
export function markedUnsealed(value: unknown): unknown {
  return typeof value === 'string' ? `${UNSEALED_LABEL}: ${value}` : { [UNSEALED_LABEL]: value };
}
