import { describe, expect, it } from 'vitest';
import { tallyDeliveries, totalNotices } from '../../workflows/notice-tally.js';

const delivered = { status: 'fulfilled', value: { outcome: { status: 'delivered', httpStatus: 204 } } } as const;
const already = { status: 'fulfilled', value: { outcome: { status: 'already-delivered' } } } as const;
const otherIssuer = { status: 'fulfilled', value: { outcome: { status: 'skipped', why: 'other-issuer' } } } as const;
const disabled = { status: 'fulfilled', value: { outcome: { status: 'skipped', why: 'disabled' } } } as const;
const failed = { status: 'rejected', reason: new Error('503') } as const;

describe('a revocation run counts its subscriber notices', () => {
  it('counts a subscriber told nothing of the event (another issuer, disabled) as skipped, not delivered', () => {
    expect(tallyDeliveries([delivered, otherIssuer, disabled, failed])).toEqual({ delivered: 1, failed: 1, skipped: 2 });
  });

  it('counts a notice the subscriber already had as delivered', () => {
    expect(tallyDeliveries([already])).toEqual({ delivered: 1, failed: 0, skipped: 0 });
  });

  it('sums the events and names skipped and unlisted only when there were some', () => {
    expect(totalNotices([{ delivered: 2, failed: 0, skipped: 0 }, { delivered: 1, failed: 1, skipped: 0 }])).toEqual({ delivered: 3, failed: 1 });
    expect(totalNotices([{ delivered: 1, failed: 0, skipped: 3 }, { delivered: 0, failed: 0, unlisted: 1 }])).toEqual({ delivered: 1, failed: 0, skipped: 3, unlisted: 1 });
  });
});
