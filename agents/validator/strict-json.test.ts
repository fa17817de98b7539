import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseStrictJson, StrictJsonError } from './strict-json.js';

const reasonOf = (text: string) => {
  try {
    parseStrictJson(text);
    return 'ok';
  } catch (e) {
    return e instanceof StrictJsonError ? e.reason : 'other';
  }
};

describe('parseStrictJson', () => {
  it('reads what JSON.parse reads for any JSON without duplicate or __proto__ members', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        fc.pre(!text.includes('__proto__'));
        expect(JSON.parse(JSON.stringify(parseStrictJson(text)))).toEqual(JSON.parse(text));
      }),
    );
  });

  it('refuses a duplicate member at the top level', () => expect(reasonOf('{"a":1,"a":2}')).toBe('duplicate'));
  it('refuses a duplicate member in a nested object', () => expect(reasonOf('{"a":{"b":1,"b":1}}')).toBe('duplicate'));
  it('refuses a duplicate spelled with an escape', () => expect(reasonOf('{"a":1,"\\u0061":2}')).toBe('duplicate'));
  it('refuses a __proto__ member', () => expect(reasonOf('{"__proto__":{"admin":true}}')).toBe('proto'));
  it('refuses a __proto__ member spelled with escapes', () => expect(reasonOf('{"\\u005f_proto__":{}}')).toBe('proto'));
  it('builds objects without a prototype', () => expect(Object.getPrototypeOf(parseStrictJson('{"a":1}'))).toBeNull());
  it('refuses trailing characters', () => expect(reasonOf('{"a":1} x')).toBe('syntax'));
  it('refuses raw control characters in strings', () => expect(reasonOf('{"a":"\u0001"}')).toBe('syntax'));
  it('refuses single quotes, comments and trailing commas', () => {
    for (const t of ["{'a':1}", '{"a":1 /* c */}', '{"a":1,}', '[1,]']) expect(reasonOf(t)).toBe('syntax');
  });
  it('refuses nesting deeper than 32 levels instead of overflowing the stack', () => expect(reasonOf('['.repeat(10_000) + ']'.repeat(10_000))).toBe('syntax'));
});
