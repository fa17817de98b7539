import { ApplicationFailure, RawValue, type Payload } from '@temporalio/common';

/**
 * Display payloads: what the Temporal Web UI shows an auditor without any codec (workflow and
 * activity summaries, static and current details, a run's result). They are built to hold only
 * public facts (issuers, kids, plan hashes, approvers, outcomes, audit seqs) and are left in clear
 * on purpose; every other payload is encrypted. The mark is set only by `display()` below; the
 * codec (`infra/temporal/codec/display.ts`) recognises it, and a worker never takes a display
 * payload as input.
 *
 * Runs in the workflow sandbox: no Node imports.
 */
export const DISPLAY_MARK_KEY = 'keyturn-display';
export const DISPLAY_MARK = 'v1';
/** A worker reads a display payload (a child run's result) only inside this envelope. */
export const DISPLAY_ENVELOPE = 'keyturnDisplay';
/** Summaries and details are short; a result is a few hundred bytes. Anything bigger is not display. */
export const DISPLAY_MAX_BYTES = 16 * 1024;

const encoder = new TextEncoder();
const JSON_PLAIN = 'json/plain';

export function displayPayload(value: unknown): Payload {
  return { metadata: { encoding: encoder.encode(JSON_PLAIN), [DISPLAY_MARK_KEY]: encoder.encode(DISPLAY_MARK) }, data: encoder.encode(JSON.stringify(value)) };
}

/**
 * Marks a summary, a details text or a run result as display. The SDK types these options as
 * plain values, but converts them with `payloadConverter.toPayload`, which passes a RawValue's
 * payload through untouched: hence the cast, confined to this function.
 */
export function display<T>(value: T): T {
  return RawValue.fromPayload(displayPayload(value)) as unknown as T;
}

/**
 * Reads a value a worker received as display (a child run's result). Anything else fails the run,
 * not just its workflow task: a task failing over and over would stall the run with nothing to show.
 */
export function fromDisplayEnvelope<T>(received: unknown): T {
  if (typeof received !== 'object' || received === null || !(DISPLAY_ENVELOPE in received)) {
    throw ApplicationFailure.create({ type: 'RESULT_NOT_DISPLAY', nonRetryable: true, message: 'expected a display payload as the child run\'s result: it was not written by keyturn\'s workflow (someone with access to the namespace completed the child run)' });
  }
  return (received as Record<string, unknown>)[DISPLAY_ENVELOPE] as T;
}
