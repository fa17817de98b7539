import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec, SerializationContext } from '@temporalio/common';
import proto from '@temporalio/proto';
import { KeyturnError } from '../../../config/errors.js';
import { DISPLAY_MARK, DISPLAY_MARK_KEY } from '../../../workflows/display.js';
import { isPlainActivityId } from '../../../workflows/call-ids.js';
import { REFUSED_PAYLOAD_KEY } from '../../../workflows/result-binding.js';
import { envelopedForWorker, isDisplayPayload, isWorkflowMetadataAnswer } from './display.js';
import { displaySealed, markedUnsealed, sealDisplay } from './display-seal.js';
import type { PayloadKeyring } from './keyring.js';

// A CommonJS package: plain Node (worker processes) exposes it only as a default export.
const { temporal } = proto;

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const CIPHER = 'AES-256-GCM';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);
/**
 * Binds each ciphertext to its key id and format, so neither can be swapped unnoticed, and to the
 * label of where it belongs (see {@link labelOf}).
 */
const aadFor = (keyId: string, label: string | undefined) =>
  Buffer.from(label === undefined ? `keyturn-payload-v1:${CIPHER}:${keyId}` : `keyturn-payload-v2:${CIPHER}:${keyId}:${label}`);
/** Clear metadata naming where a payload belongs (also in the AAD, so it cannot be changed). */
export const CALL_METADATA_KEY = 'encryption-bound-to';

/**
 * Where a payload belongs, as the SDK describes it on both sides (the writer and the reader):
 * - an activity call's inputs, result and failure: that call (namespace, workflow id, activity id,
 *   which names the call's type and run: workflows/call-ids.ts), so a copy presented to another
 *   call (another run's, or another step's) is refused;
 * - every other payload with a context (starts, signals, queries, run results): its namespace, so
 *   it cannot stand in for an activity's input or result. Not its workflow id: a schedule encodes
 *   its runs' input under the schedule's workflow id, not each run's; attestations and start
 *   nonces bind those instead.
 * A local activity, or one without a workflow (standalone), gets a label nothing of keyturn's
 * carries: keyturn runs neither. Without a context (a schedule's own memo) a payload names
 * nothing, as every payload did before labels: see {@link labelRequired}.
 */
export function labelOf(context: SerializationContext | undefined): string | undefined {
  if (!context) return undefined;
  if (context.type === 'workflow') return JSON.stringify(['namespace', context.namespace]);
  if (!context.isLocal && context.workflowId && context.activityId) return JSON.stringify([context.namespace, context.workflowId, context.activityId]);
  return JSON.stringify(['unbound-activity', context.namespace]);
}

/**
 * Where a payload that names nothing is refused. Workflow payloads from before labels are still
 * read (open runs replay them; a labelled one could be copied between runs of the namespace all
 * the same). An activity's are read only for a call with the SDK's plain id, which only a run from
 * before call ids makes, and the worker runs such a call only for a run started before the upgrade
 * (workers/call-id-check.ts): a payload from an older history never stands in for a call's input
 * or result today.
 */
function labelRequired(context: SerializationContext): boolean {
  return context.type === 'activity' && !isPlainActivityId(context.activityId);
}

/**
 * Who reads the decoded payloads. A client (CLI, Slack app) reads display payloads as they are.
 * The codec endpoint ('operator', for the Web UI) reads them as they are when keyturn sealed them
 * (`display-seal.ts`) and visibly marked otherwise. A worker only ever meets one as a child run's
 * result, so it gets them inside an envelope: a forged display payload sent as a workflow input or
 * signal then matches no input shape and is refused like any other bad input.
 */
export type CodecReader = 'client' | 'operator' | 'worker';

/**
 * Encrypts every Temporal payload with AES-256-GCM, except display payloads (see `display.ts`):
 * the whole original payload (metadata and data) becomes `nonce | ciphertext | tag`, and the new
 * payload's metadata names only the encoding, the cipher and the key id. Decoding fails closed: a
 * payload that is neither encrypted nor display, was encrypted under a key this process does not
 * hold, or was altered is refused, never passed through.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(
    private readonly keyring: PayloadKeyring,
    private readonly reader: CodecReader = 'client',
  ) {}

  async encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    const { id, key } = this.keyring.active();
    const label = labelOf(context);
    return payloads.map((p) => {
      if (isDisplayPayload(p)) return sealDisplay(p, this.keyring);
      if (isWorkflowMetadataAnswer(p)) return sealDisplay({ metadata: { ...p.metadata, [DISPLAY_MARK_KEY]: utf8(DISPLAY_MARK) }, data: p.data }, this.keyring);
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(aadFor(id, label));
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const data = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: utf8(ENCRYPTED_ENCODING), 'encryption-cipher': utf8(CIPHER), 'encryption-key-id': utf8(id), ...(label ? { [CALL_METADATA_KEY]: utf8(label) } : {}) }, data };
    });
  }

  /**
   * With a context (workers, and clients reading a run), a payload is read only where it belongs:
   * as that call's, or as a workflow payload of that namespace. Without one (the codec endpoint,
   * `audit show`), wherever it names.
   */
  async decode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    return payloads.map((p) => (this.reader === 'worker' ? this.decodeForWorker(p, context) : this.decodeOne(p, context)));
  }

  /**
   * A worker hands on a payload it refuses (not encrypted, altered, or written for another place) as
   * a refusal, for the run to handle where it handles refusals: a start fails the run, a signal's
   * check refuses it and audits that, a result fails its step, an input is refused before the
   * activity runs. Thrown, the workflow task would fail over and over and the run stall with nothing
   * to show. A key this process does not hold is thrown all the same for an activity's payloads:
   * that is its configuration (workers write those), and the run goes on once the key is added. A
   * start or signal under such a key is handed on: anyone who may signal could write one.
   */
  private decodeForWorker(p: Payload, context?: SerializationContext): Payload {
    try {
      return this.decodeOne(p, context);
    } catch (e) {
      if (e instanceof KeyturnError && (HANDED_ON.has(e.code) || (e.code === 'PAYLOAD_KEY_UNKNOWN' && context?.type === 'workflow'))) return refusedPayload(e.code, e.message);
      throw e;
    }
  }

  private decodeOne(p: Payload, context?: SerializationContext): Payload {
    const encoding = text(p.metadata?.encoding);
    if (encoding !== ENCRYPTED_ENCODING) {
      if (isDisplayPayload(p)) return this.readDisplay(p);
      // An operator is shown clear JSON that is not keyturn's, marked, rather than losing the whole batch.
      if (this.reader === 'operator' && encoding === 'json/plain' && parsesAsJson(p.data)) return this.readDisplay(p);
      throw new KeyturnError('PAYLOAD_NOT_ENCRYPTED', `refused a Temporal payload with encoding ${encoding ?? '(none)'}: keyturn accepts only ${ENCRYPTED_ENCODING} (and its own display payloads)`, 'Send signals and starts through keyturn (CLI, Slack) or a client configured with the payload key.');
    }
    const keyId = text(p.metadata?.['encryption-key-id']) ?? '';
    const key = this.keyring.byId(keyId);
    if (!key) {
      throw new KeyturnError('PAYLOAD_KEY_UNKNOWN', `a Temporal payload was encrypted under payload key ${keyId || '(none)'}, which this process does not hold`, 'Add that key as a further line of KEYTURN_PAYLOAD_KEY_FILE (decrypt-only) on every worker and client.');
    }
    const label = text(p.metadata?.[CALL_METADATA_KEY]);
    if (context) {
      const expected = labelOf(context)!;
      const refusal = placeRefusal(label, context, expected);
      if (refusal) throw misplaced(refusal, label, expected);
    }
    const data = Buffer.from(p.data ?? new Uint8Array());
    if (data.length < NONCE_BYTES + TAG_BYTES) throw tampered(keyId);
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aadFor(keyId, label));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw tampered(keyId);
    }
    const decoded = temporal.api.common.v1.Payload.decode(plain);
    return { metadata: decoded.metadata, data: decoded.data };
  }

  private readDisplay(p: Payload): Payload {
    if (this.reader === 'worker') return envelopedForWorker(p);
    if (this.reader === 'client' || displaySealed(p, this.keyring)) return p;
    const value: unknown = JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8'));
    return { metadata: p.metadata, data: utf8(JSON.stringify(markedUnsealed(value))) };
  }

  /**
   * Whether an encrypted payload sits where it was not written for (decoding it in `context` is
   * refused): read from its clear label, without decrypting it.
   */
  misplaced(p: Payload, context: SerializationContext): boolean {
    return text(p.metadata?.encoding) === ENCRYPTED_ENCODING && placeRefusal(text(p.metadata?.[CALL_METADATA_KEY]), context, labelOf(context)!) !== undefined;
  }

  /** Whether a display payload was sealed by a keyturn process holding this keyring's keys. */
  sealed(p: Payload): boolean {
    return displaySealed(p, this.keyring);
  }

  /**
   * Whether keyturn wrote this payload: encrypted under a key of this keyring (and intact), or, where
   * display payloads belong (`display`), a display payload keyturn sealed.
   */
  async writtenByKeyturn(p: Payload, o: { display: boolean }): Promise<boolean> {
    if (text(p.metadata?.encoding) === ENCRYPTED_ENCODING) {
      try {
        this.decodeOne(p);
        return true;
      } catch {
        return false;
      }
    }
    return o.display && isDisplayPayload(p) && this.sealed(p);
  }
}

/** Why a payload labelled `label` is not read in `context` (whose label is `expected`), or undefined when it is. */
function placeRefusal(label: string | undefined, context: SerializationContext, expected: string): 'PAYLOAD_UNLABELLED' | 'PAYLOAD_OTHER_CALL' | undefined {
  if (label === undefined) return labelRequired(context) ? 'PAYLOAD_UNLABELLED' : undefined;
  return label === expected ? undefined : 'PAYLOAD_OTHER_CALL';
}

/** What a worker hands on in place of a payload it refuses (see decodeForWorker). */
const HANDED_ON = new Set(['PAYLOAD_NOT_ENCRYPTED', 'PAYLOAD_TAMPERED', 'PAYLOAD_OTHER_CALL', 'PAYLOAD_UNLABELLED']);

function refusedPayload(code: string, why: string): Payload {
  // message and stack_trace: what the failure converter shows when the refused payload held a failure's attributes.
  const refusal = { [REFUSED_PAYLOAD_KEY]: code, why, message: `refused by keyturn's payload codec (${code})`, stack_trace: '' };
  return { metadata: { encoding: utf8('json/plain') }, data: utf8(JSON.stringify(refusal)) };
}

function parsesAsJson(data: Uint8Array | null | undefined): boolean {
  try {
    JSON.parse(Buffer.from(data ?? new Uint8Array()).toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

function misplaced(code: string, label: string | undefined, expected: string): KeyturnError {
  if (code === 'PAYLOAD_UNLABELLED') {
    return new KeyturnError(code, `refused a Temporal payload that names no place (from a history before payload labels) where activity call ${expected} was expected: it was copied from elsewhere`, 'Treat the Temporal history as tampered with: someone with access to the namespace scheduled or answered a task with a copied payload; compare with the audit log (`keyturn audit show`).');
  }
  return new KeyturnError(code, `refused a Temporal payload bound to ${label} where ${expected} was expected: it was copied from elsewhere`, 'Treat the Temporal history as tampered with: someone with access to the namespace answered or scheduled a task with a copied payload; compare with the audit log (`keyturn audit show`).');
}

function tampered(keyId: string): KeyturnError {
  return new KeyturnError('PAYLOAD_TAMPERED', `a Temporal payload under key ${keyId} failed authentication: it was altered or truncated`, 'Treat the Temporal history as tampered with; compare it with the audit log (`keyturn audit verify`).');
}
