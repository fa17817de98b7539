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
  it('builds objects that inherit nothing, even from a polluted Object.prototype', () => {
    const polluted = Object.prototype as Record<string, unknown>;
    polluted.isAdmin = true;
    try {
      for (const text of ['{"a":1}', '{ "a": 1 }']) {
        const v = parseStrictJson(text) as Record<string, unknown>;
        expect([v.isAdmin, v.toString, v.constructor, 'isAdmin' in v]).toEqual([undefined, undefined, undefined, false]);
      }
    } finally {
      delete polluted.isAdmin;
    }
  });
  it('refuses trailing characters', () => expect(reasonOf('{"a":1} x')).toBe('syntax'));
  it('refuses raw control characters in strings', () => expect(reasonOf('{"a":"\u0001"}')).toBe('syntax'));
  it('refuses single quotes, comments and trailing commas', () => {
    for (const t of ["{'a':1}", '{"a":1 /* c */}', '{"a":1,}', '[1,]']) expect(reasonOf(t)).toBe('syntax');
  });
  it('refuses nesting deeper than 32 levels instead of overflowing the stack', () => expect(reasonOf('['.repeat(10_000) + ']'.repeat(10_000))).toBe('syntax'));
  it('parses the compact spelling JSON.stringify writes and a spaced spelling of it to the same prototype-free value', () => {
    const inheritsNothing = (o: object): boolean => {
      for (let p = Object.getPrototypeOf(o) as object | null; p !== null; p = Object.getPrototypeOf(p) as object | null) {
        if (Reflect.ownKeys(p).length > 0) return false;
      }
      return true;
    };
    const prototypeFree = (v: unknown): boolean =>
      v === null || typeof v !== 'object' || (Array.isArray(v) ? v.every(prototypeFree) : inheritsNothing(v) && Object.values(v).every(prototypeFree));
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const compact = JSON.stringify(v);
        fc.pre(!compact.includes('__proto__'));
        const fromCompact = parseStrictJson(compact);
        const fromSpaced = parseStrictJson(JSON.stringify(v, null, 1));
        expect(fromCompact).toEqual(fromSpaced);
        expect(prototypeFree(fromCompact) && prototypeFree(fromSpaced)).toBe(true);
      }),
    );
  });
  it('keeps an own member named like an Object.prototype method as plain data', () => {
    for (const text of ['{"":{"toString":false}}', '{ "": { "toString": false } }']) {
      const v = parseStrictJson(text) as Record<string, Record<string, unknown>>;
      expect(v['']!.toString).toBe(false);
    }
  });
  it('returns the value deep-frozen when asked, whichever spelling it had', () => {
    for (const text of ['{"a":{"b":[1,{"c":2}]}}', '{ "a": { "b": [1, { "c": 2 }] } }']) {
      const v = parseStrictJson(text, { frozen: true }) as { a: { b: [number, { c: number }] } };
      expect([Object.isFrozen(v), Object.isFrozen(v.a), Object.isFrozen(v.a.b), Object.isFrozen(v.a.b[1])]).toEqual([true, true, true, true]);
    }
  });
  it('refuses 33 levels of nesting in the compact spelling too', () => {
    expect(reasonOf('['.repeat(34) + ']'.repeat(34))).toBe('syntax');
    expect(reasonOf('['.repeat(33) + ']'.repeat(33))).toBe('ok');
  });
});
