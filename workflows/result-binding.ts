/**
 * An activity's result is bound to the one call that asked for it. Payload encryption keeps a
 * result secret and intact, but not in its place: someone who can answer activity tasks in the
 * namespace without holding the payload key could still answer one call with an encrypted result
 * copied from another run's history. So each call (from the workflow's patch on) sends a fresh
 * nonce in a header, the worker returns the result inside the encrypted payload together with
 * that nonce, and the workflow accepts only a result that carries its own call's nonce.
 *
 * Shared by the workflow interceptor and the worker's activity interceptor: no Temporal imports.
 */
export const RESULT_BINDING_HEADER = 'keyturn-result-binding';
/** Histories recorded before the binding replay without it; every call after the patch is bound. */
export const RESULT_BINDING_PATCH = 'bound-activity-results';
export const ACTIVITY_RESULT_NOT_BOUND = 'ACTIVITY_RESULT_NOT_BOUND';

export interface BoundResult {
  keyturnBinding: string;
  /** Absent when the activity returns nothing. */
  value?: unknown;
}

export function bindResult(binding: string, value: unknown): BoundResult {
  return { keyturnBinding: binding, value };
}

/** The result a call asked for, or undefined when the answer is not bound to that call. */
export function unbindResult(answer: unknown, binding: string): { value: unknown } | undefined {
  if (!binding || typeof answer !== 'object' || answer === null) return undefined;
  const bound = answer as Partial<BoundResult>;
  return bound.keyturnBinding === binding ? { value: bound.value } : undefined;
}
