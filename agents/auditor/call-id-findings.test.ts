import { describe, expect, it } from 'vitest';
import { formatCallId } from '../../workflows/call-ids.js';
import { callIdFindings, firstSchedulings } from './call-id-findings.js';

const RUN = '01a2318c-32e4-7dd3-8dec-96365ddd2806';
const UPGRADE = new Date('2026-12-01T12:00:00Z');
const call = (activityId: string, o: { activityType?: string; scheduledAt?: string; failureType?: string } = {}) => ({ activityId, activityType: o.activityType ?? 'activateKey', scheduledAt: o.scheduledAt ?? '2026-12-01T13:00:00Z', ...(o.failureType ? { failureType: o.failureType } : {}) });

describe('what audit show finds wrong with a call\'s id', () => {
  it('nothing for a call id naming its own type and run', () => {
    expect(callIdFindings(call(formatCallId({ activityType: 'activateKey', originalRunId: RUN, seq: 4 })), { originalRunId: RUN, upgradedAt: UPGRADE })).toEqual([]);
  });

  it('a call id naming another type', () => {
    expect(callIdFindings(call(formatCallId({ activityType: 'activateKey', originalRunId: RUN, seq: 4 }), { activityType: 'retireKey' }), { originalRunId: RUN })).toEqual([expect.stringMatching(/names a activateKey call/)]);
  });

  it('a call id naming another run', () => {
    expect(callIdFindings(call(formatCallId({ activityType: 'activateKey', originalRunId: 'another-run', seq: 4 })), { originalRunId: RUN })).toEqual([expect.stringMatching(/names a call of run another-run/)]);
  });

  it('a plain id scheduled after the upgrade, but not one scheduled before it', () => {
    expect(callIdFindings(call('4'), { originalRunId: RUN, upgradedAt: UPGRADE })).toEqual([expect.stringMatching(/plain id \(4\) was scheduled after the upgrade/)]);
    expect(callIdFindings(call('4', { scheduledAt: '2026-12-01T11:00:00Z' }), { originalRunId: RUN, upgradedAt: UPGRADE })).toEqual([]);
  });

  it('an id keyturn\'s workflows do not make', () => {
    expect(callIdFindings(call('my-own-id'), { originalRunId: RUN })).toEqual([expect.stringMatching(/is not one keyturn's workflows make/)]);
  });

  it('a task the worker refused as a copied call', () => {
    const id = formatCallId({ activityType: 'activateKey', originalRunId: RUN, seq: 4 });
    expect(callIdFindings(call(id, { failureType: 'PAYLOAD_UNLABELLED' }), { originalRunId: RUN })).toEqual([expect.stringMatching(/refused the task: its id or input was not written for it \(PAYLOAD_UNLABELLED\)/)]);
    expect(callIdFindings(call(id, { failureType: 'KEY_TRANSITION_FORBIDDEN' }), { originalRunId: RUN })).toEqual([]);
  });

  it('a call id the run scheduled before, but not its first scheduling', () => {
    const id = formatCallId({ activityType: 'activateKey', originalRunId: RUN, seq: 4 });
    const first = call(id, { scheduledAt: '2026-12-01T13:00:00Z', failureType: 'KEY_TRANSITION_FORBIDDEN' });
    const again = call(id, { scheduledAt: '2026-12-01T13:05:00Z', failureType: 'ACTIVITY_CALL_REPEATED' });
    const run = { originalRunId: RUN, firstScheduled: firstSchedulings([first, again]) };
    expect(callIdFindings(first, run)).toEqual([]);
    expect(callIdFindings(again, run)).toEqual([
      expect.stringMatching(/was first scheduled at 2026-12-01T13:00:00Z: the same call scheduled again/),
      expect.stringMatching(/refused the task: the call had been scheduled before \(ACTIVITY_CALL_REPEATED\)/),
    ]);
  });
});
