import { describe, expect, it } from 'vitest';
import { decodeBase64url } from './base64url.js';

describe('decodeBase64url', () => {
  it('decodes canonical base64url', () => expect(decodeBase64url('aGk_-w')?.toString('hex')).toBe(Buffer.from('aGk_-w', 'base64url').toString('hex')));
  it('decodes the empty string to no bytes', () => expect(decodeBase64url('')?.length).toBe(0));
  it('refuses padding', () => expect(decodeBase64url('aGk=')).toBeUndefined());
  it('refuses the standard-base64 characters + and /', () => {
    expect(decodeBase64url('a+b/')).toBeUndefined();
  });
  it('refuses whitespace', () => expect(decodeBase64url('aGk\n')).toBeUndefined());
  it('refuses an impossible length (4n+1)', () => expect(decodeBase64url('aGkxa')).toBeUndefined());
  it('refuses a non-canonical spelling (non-zero unused bits)', () => {
    expect(decodeBase64url('aQ')).toBeDefined();
    expect(decodeBase64url('aR')).toBeUndefined();
  });
  it('accepts exactly the spellings that round-trip, for every final group of 2 or 3 characters', () => {
    const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let disagreements = 0;
    for (const a of digits) {
      for (const b of digits) {
        for (const tail of ['', ...digits]) {
          const s = `QUJD${a}${b}${tail}`;
          const canonical = Buffer.from(s, 'base64url').toString('base64url') === s;
          if ((decodeBase64url(s) !== undefined) !== canonical) disagreements++;
        }
      }
    }
    expect(disagreements).toBe(0);
  });
});
