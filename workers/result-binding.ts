import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { bindResult, refusalCodeIn, RESULT_BINDING_HEADER } from '../workflows/result-binding.js';

const REFUSED_INPUTS: Record<string, string> = {
  PAYLOAD_UNLABELLED: 'names no activity call (it comes from a history before payload labels)',
  PAYLOAD_OTHER_CALL: 'was encrypted for another place (another call, or a run\'s start or signal)',
  PAYLOAD_NOT_ENCRYPTED: 'was not encrypted',
  PAYLOAD_TAMPERED: 'was altered (it failed authentication)',
};

/**
 * Returns each result inside its encrypted payload together with the nonce the calling workflow
 * sent and the task's own namespace, workflow id, activity id and type, so that the workflow can
 * tell it from a result copied out of another history, or made for someone else's call. A call
 * scheduled by a workflow from before the binding sends no nonce and gets its result as it was.
 */
export const bindActivityResults: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const code = refusalCodeIn(input.args);
      if (code !== undefined) {
        const why = REFUSED_INPUTS[code] ?? 'was refused by the payload codec';
        throw ApplicationFailure.create({ type: code, nonRetryable: true, message: `the input of this ${ctx.info.activityType} task ${why}, so it was not run: someone with access to the namespace scheduled it with an input keyturn did not write for it` });
      }
      const header = input.headers[RESULT_BINDING_HEADER];
      if (!header) return next(input);
      const nonce = defaultPayloadConverter.fromPayload<unknown>(header);
      const { workflowExecution, workflowNamespace, activityId, activityType } = ctx.info;
      const workflowId = workflowExecution?.workflowId;
      if (typeof nonce !== 'string' || nonce.length === 0 || !workflowId || !workflowNamespace) {
        throw ApplicationFailure.create({ type: 'RESULT_BINDING_MALFORMED', nonRetryable: true, message: 'the result-binding header of this activity task is not a nonce, so the task was not run; the workflow that scheduled it was not written by keyturn' });
      }
      return bindResult({ namespace: workflowNamespace, workflowId, activityId, activityType, nonce }, await next(input));
    },
  },
});
