/**
 * An activity's result is bound to the one call that asked for it. Payload encryption keeps a
 * result secret and intact, but not in its place: someone who can answer activity tasks in the
 * namespace without holding the payload key could still answer one call with an encrypted result
 * copied from another run's history. So each call (from the workflow's patch on) sends a fresh
 * nonce in a header, and the worker returns the result inside the encrypted payload together with
 * that nonce and the task's own namespace, workflow id, activity id and type. The workflow accepts
 * only a result that carries its call's nonce and its own ids: the nonce is readable in the header,
 * so the ids are what keep a workflow of someone else's, scheduling the same activity with that
 * nonce, from having keyturn's worker bind a result for it.
 *
 * Shared by the workflow interceptor, the worker's activity interceptor and `keyturn audit show`:
 * no Temporal imports.
 */
export const RESULT_BINDING_HEADER = 'keyturn-result-binding';
/** Calls a run made before the binding replay without it; every call it makes after the patch is bound. */
export const RESULT_BINDING_PATCH = 'bound-activity-results';
export const ACTIVITY_RESULT_NOT_BOUND = 'ACTIVITY_RESULT_NOT_BOUND';

export interface ResultBinding {
  /** The namespace, workflow, activity id and type of the task, as the task itself says (not as its input says). */
  namespace: string;
  workflowId: string;
  activityId: string;
  activityType: string;
  /** The call's nonce, from its header. */
  nonce: string;
}

const BINDING_FIELDS = ['namespace', 'workflowId', 'activityId', 'activityType', 'nonce'] as const;

export interface BoundResult {
  keyturnBinding: ResultBinding;
  /** Absent when the activity returns nothing. */
  value?: unknown;
}

export function bindResult(binding: ResultBinding, value: unknown): BoundResult {
  return { keyturnBinding: binding, value };
}

/** The result a call asked for, or undefined when the answer is not bound to that call. */
export function unbindResult(answer: unknown, expected: ResultBinding): { value: unknown } | undefined {
  if (BINDING_FIELDS.some((f) => !expected[f]) || typeof answer !== 'object' || answer === null) return undefined;
  const bound = (answer as Partial<BoundResult>).keyturnBinding;
  if (typeof bound !== 'object' || bound === null) return undefined;
  return BINDING_FIELDS.every((f) => bound[f] === expected[f]) ? { value: (answer as BoundResult).value } : undefined;
}

/** Whether an answer has the shape of a bound result at all (for a call that sent no nonce). */
export function looksBound(answer: unknown): boolean {
  return typeof answer === 'object' && answer !== null && 'keyturnBinding' in answer;
}

/**
 * What a worker's codec hands on in place of a payload encrypted for another activity call
 * (PAYLOAD_OTHER_CALL), so that the run refuses it where it handles refusals instead of failing the
 * workflow task over and over: a result fails the result binding, an input is refused by the worker
 * before the activity runs.
 */
export const REFUSED_PAYLOAD_KEY = 'keyturnRefusedPayload';

export function isRefusedPayload(value: unknown): boolean {
  return typeof value === 'object' && value !== null && REFUSED_PAYLOAD_KEY in value;
}

/** The refusal code of the first refused payload among `args`, if any. */
export function refusalCodeIn(args: readonly unknown[]): string | undefined {
  const refused = args.find(isRefusedPayload) as Record<string, unknown> | undefined;
  return refused === undefined ? undefined : String(refused[REFUSED_PAYLOAD_KEY]);
}
