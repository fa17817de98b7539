import { describe, expect, it } from 'vitest';
import { formatCallId, isPlainActivityId, parseCallId } from '../../workflows/call-ids.js';

const call = { activityType: 'activateKey', originalRunId: '01a2318c-32e4-7dd3-8dec-96365ddd2806', seq: 7 };

describe('activity call ids', () => {
  it('name the call\'s type, original run and sequence number, and read back as the same call', () => {
    expect(formatCallId(call)).toBe('kt1/01a2318c-32e4-7dd3-8dec-96365ddd2806/7/activateKey');
    expect(parseCallId(formatCallId(call))).toEqual(call);
  });

  it('read the SDK\'s plain sequence-number ids (calls from before the patch) as no call id', () => {
    expect(parseCallId('7')).toBeUndefined();
  });

  it.each([
    ['another prefix', 'kt2/run/7/activateKey'],
    ['a missing part', 'kt1/run/7'],
    ['an extra part', 'kt1/run/7/activateKey/x'],
    ['an empty run', 'kt1//7/activateKey'],
    ['an empty type', 'kt1/run/7/'],
    ['a sequence number written another way', 'kt1/run/07/activateKey'],
    ['a sequence number below 1', 'kt1/run/0/activateKey'],
    ['a sequence number that is not a number', 'kt1/run/x/activateKey'],
  ])('refuse %s', (_what, id) => {
    expect(parseCallId(id)).toBeUndefined();
  });

  it.each([['7', true], ['12', true], ['0', false], ['07', false], ['', false], ['kt1/run/7/activateKey', false], ['7a', false]])('take %j as the SDK\'s plain id: %s', (id, plain) => {
    expect(isPlainActivityId(id)).toBe(plain);
  });
});
