import { ApplicationFailure, defaultPayloadConverter, log, patched, uuid4, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { ACTIVITY_RESULT_NOT_BOUND, RESULT_BINDING_HEADER, RESULT_BINDING_PATCH, unbindResult } from './result-binding.js';

/** Every activity result must carry the nonce of the call that asked for it (see result-binding.ts). */
export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      async scheduleActivity(input, next) {
        if (!patched(RESULT_BINDING_PATCH)) return next(input);
        const binding = uuid4();
        const answer = await next({ ...input, headers: { ...input.headers, [RESULT_BINDING_HEADER]: defaultPayloadConverter.toPayload(binding) } });
        const unbound = unbindResult(answer, binding);
        if (unbound) return unbound.value;
        log.error('an activity result not bound to its call was refused', { activityType: input.activityType, seq: input.seq });
        throw ApplicationFailure.create({
          type: ACTIVITY_RESULT_NOT_BOUND,
          nonRetryable: true,
          message: `the result of ${input.activityType} was not produced for this call (it may have been copied from another run's history); it was refused. Check who can answer activity tasks in this namespace, and see the worker's logs for this call.`,
        });
      },
    },
  ],
});

export function isUnboundResult(e: unknown): boolean {
  let current: unknown = e;
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure && current.type === ACTIVITY_RESULT_NOT_BOUND) return true;
    current = current.cause;
  }
  return false;
}
