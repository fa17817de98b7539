import { ApplicationFailure, defaultPayloadConverter, log, patched, uuid4, workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { CALL_ID_PATCH, formatCallId } from './call-ids.js';
import { ACTIVITY_RESULT_NOT_BOUND, isRefusedPayload, refusalCodeIn, RESULT_BINDING_HEADER, RESULT_BINDING_PATCH, unbindResult } from './result-binding.js';

/**
 * Every activity call gets an id naming its type and run (see call-ids.ts), and its result must
 * carry the nonce of the call that asked for it (see result-binding.ts).
 */
export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [
    {
      // The worker's codec hands on a start input it would not read (see encryption-codec.ts) as a
      // refusal: the run ends there, before any of keyturn's code sees it. A refused signal needs no
      // such care: it carries no attestation, so its check refuses it and audits that.
      async execute(input, next) {
        const code = refusalCodeIn(input.args);
        if (code !== undefined) throw refusedStart(code);
        return next(input);
      },
    },
  ],
  outbound: [
    {
      async scheduleActivity(input, next) {
        if (!patched(RESULT_BINDING_PATCH)) {
          const answer = await next(input);
          if (isRefusedPayload(answer)) throw notBound(input.activityType, input.seq);
          return answer;
        }
        const { namespace, workflowId, originalExecutionRunId } = workflowInfo();
        // The id the SDK gives the call when the options name none (runs from before the call-id patch).
        const activityId = input.options.activityId ?? (patched(CALL_ID_PATCH) ? formatCallId({ activityType: input.activityType, originalRunId: originalExecutionRunId, seq: input.seq }) : String(input.seq));
        const nonce = uuid4();
        const answer = await next({ ...input, options: { ...input.options, activityId }, headers: { ...input.headers, [RESULT_BINDING_HEADER]: defaultPayloadConverter.toPayload(nonce) } });
        const unbound = unbindResult(answer, { namespace, workflowId, activityId, activityType: input.activityType, nonce });
        if (unbound) return unbound.value;
        throw notBound(input.activityType, input.seq);
      },
    },
  ],
});

const START_REFUSALS: Record<string, string> = {
  PAYLOAD_OTHER_CALL: 'it was written for an activity call or another namespace, not for a run\'s start here (a copy from a history)',
  PAYLOAD_NOT_ENCRYPTED: 'it was not encrypted (a start from a client without the payload key)',
  PAYLOAD_TAMPERED: 'it was altered (it failed authentication)',
  PAYLOAD_KEY_UNKNOWN: 'it was encrypted under a payload key this worker does not hold',
};

function refusedStart(code: string): ApplicationFailure {
  log.error('a start input the payload codec would not read was refused', { code });
  return ApplicationFailure.create({
    type: code,
    nonRetryable: true,
    message: `this run's start input was refused by the payload codec (${code}): ${START_REFUSALS[code] ?? 'keyturn did not write it for this run'}. Nothing was planned. Start runs through keyturn (CLI, Slack, schedules), and check who can start workflows in this namespace.`,
  });
}

function notBound(activityType: string, seq: number): ApplicationFailure {
  log.error('an activity result not bound to its call was refused', { activityType, seq });
  return ApplicationFailure.create({
    type: ACTIVITY_RESULT_NOT_BOUND,
    nonRetryable: true,
    message: `the result of ${activityType} was not produced for this call (it may have been copied from another run's history); it was refused. Check who can answer activity tasks in this namespace, and see the worker's logs for this call.`,
  });
}

/**
 * This interceptor's own refusal, thrown as is. An activity failure of that type (its cause) is
 * someone's answer, not the workflow's finding: its type travels in clear.
 */
export function isUnboundResult(e: unknown): boolean {
  return e instanceof ApplicationFailure && e.type === ACTIVITY_RESULT_NOT_BOUND;
}
