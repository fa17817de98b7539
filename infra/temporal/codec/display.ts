import type { Payload } from '@temporalio/common';
import { DISPLAY_ENVELOPE, DISPLAY_MARK, DISPLAY_MARK_KEY, DISPLAY_MAX_BYTES } from '../../../workflows/display.js';

/** How the codec recognises display payloads (see `workflows/display.ts`, which makes them). */
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const JSON_PLAIN = 'json/plain';

const text = (b: Uint8Array | null | undefined) => (b ? decoder.decode(b) : undefined);

/** A payload `display()` made: json/plain, marked, small, and valid JSON. */
export function isDisplayPayload(p: Payload): boolean {
  if (text(p.metadata?.[DISPLAY_MARK_KEY]) !== DISPLAY_MARK || text(p.metadata?.encoding) !== JSON_PLAIN) return false;
  return parsesWithin(p.data);
}

const METADATA_ANSWER_PREFIX = encoder.encode('{"definition":{"type":');
const DEFINITION_KEYS = ['queryDefinitions', 'signalDefinitions', 'type', 'updateDefinitions'];

/**
 * The SDK's answer to the Web UI's `__temporal_workflow_metadata` query: the workflow's type, its
 * handler names and its current details (`setCurrentDetails`). The SDK builds that payload itself,
 * so it cannot carry the mark; it is recognised by its exact shape instead.
 */
export function isWorkflowMetadataAnswer(p: Payload): boolean {
  const data = p.data;
  if (text(p.metadata?.encoding) !== JSON_PLAIN || !data || data.length > DISPLAY_MAX_BYTES || data.length < METADATA_ANSWER_PREFIX.length) return false;
  for (let i = 0; i < METADATA_ANSWER_PREFIX.length; i++) if (data[i] !== METADATA_ANSWER_PREFIX[i]) return false;
  let answer: unknown;
  try {
    answer = JSON.parse(decoder.decode(data));
  } catch {
    return false;
  }
  if (!isPlainObject(answer) || Object.keys(answer).sort().join() !== 'currentDetails,definition' || typeof answer.currentDetails !== 'string') return false;
  const definition = answer.definition;
  if (!isPlainObject(definition) || Object.keys(definition).sort().join() !== DEFINITION_KEYS.join() || typeof definition.type !== 'string') return false;
  return ['queryDefinitions', 'signalDefinitions', 'updateDefinitions'].every((k) => Array.isArray(definition[k]) && (definition[k] as unknown[]).every(isHandlerDefinition));
}

/** The same value, in the envelope a worker reads it in. */
export function envelopedForWorker(p: Payload): Payload {
  const value: unknown = JSON.parse(decoder.decode(p.data ?? new Uint8Array()));
  return { metadata: { encoding: encoder.encode(JSON_PLAIN) }, data: encoder.encode(JSON.stringify({ [DISPLAY_ENVELOPE]: value })) };
}

function parsesWithin(data: Uint8Array | null | undefined): boolean {
  if (!data || data.length > DISPLAY_MAX_BYTES) return false;
  try {
    JSON.parse(decoder.decode(data));
    return true;
  } catch {
    return false;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isHandlerDefinition(v: unknown): boolean {
  if (!isPlainObject(v) || typeof v.name !== 'string') return false;
  return Object.keys(v).every((k) => k === 'name' || (k === 'description' && (v.description === undefined || typeof v.description === 'string')));
}
