import { describe, expect, it } from 'vitest';
import { randomId } from './random-id.js';

describe('randomId', () => {
  it('is 16 bytes of base64url, 22 characters without padding', () => {
    const id = randomId();
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(16);
  });

  it('never repeats an id across many refills of its buffer', () => {
    const ids = Array.from({ length: 256 * 40 + 7 }, () => randomId());
    expect(new Set(ids).size).toBe(ids.length);
  });
});
