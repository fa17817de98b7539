import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it('reads seconds', () => expect(parseDuration('30s')).toBe(30));
  it('reads minutes', () => expect(parseDuration('10m')).toBe(600));
  it('reads hours', () => expect(parseDuration('1h')).toBe(3600));
  it('reads days', () => expect(parseDuration('90d')).toBe(90 * 86_400));
  it('reads zero', () => expect(parseDuration('0s')).toBe(0));

  for (const text of ['600', '10', '', 'ten minutes', '10 m', ' 10m', '1.5h', '-5m', '10ms', '1w', '10M', '1h30m']) {
    it(`refuses ${JSON.stringify(text)}`, () => expect(parseDuration(text)).toBeUndefined());
  }
});

describe('formatDuration', () => {
  it('uses the largest unit that divides exactly', () => expect(formatDuration(7200)).toBe('2h'));
  it('falls back to seconds', () => expect(formatDuration(90)).toBe('90s'));
  it('writes days', () => expect(formatDuration(90 * 86_400)).toBe('90d'));
  it('writes zero as seconds', () => expect(formatDuration(0)).toBe('0s'));
});
