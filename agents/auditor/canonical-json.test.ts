import { describe, expect, it } from 'vitest';
import { canonicalJson, normalizeJson } from './canonical-json.js';

describe('canonicalJson', () => {
  it('sorts object keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: [{ z: 1, y: 2 }] } })).toBe('{"a":{"c":[{"y":2,"z":1}],"d":2},"b":1}');
  });

  it('emits no whitespace', () => {
    expect(canonicalJson({ a: [1, 2], b: 'x y' })).toBe('{"a":[1,2],"b":"x y"}');
  });

  it('gives the same bytes whatever order keys were inserted in', () => {
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
  });

  it('drops undefined members and turns undefined array items into null, like JSON.stringify', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, 1] })).toBe('{"b":[null,1]}');
  });

  it('serialises Dates through toJSON as ISO strings', () => {
    expect(canonicalJson({ at: new Date('2024-01-02T03:04:05.006Z') })).toBe('{"at":"2024-01-02T03:04:05.006Z"}');
  });

  it('escapes strings exactly as JSON does', () => {
    expect(canonicalJson({ 'k"': 'line\nbreak é' })).toBe('{"k\\"":"line\\nbreak é"}');
  });

  it('refuses NaN and Infinity with AUDIT_ENTRY_INVALID', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(expect.objectContaining({ code: 'AUDIT_ENTRY_INVALID' }));
    expect(() => canonicalJson({ n: Infinity })).toThrow(expect.objectContaining({ code: 'AUDIT_ENTRY_INVALID' }));
  });

  it('refuses bigints', () => {
    expect(() => canonicalJson({ n: 1n })).toThrow(expect.objectContaining({ code: 'AUDIT_ENTRY_INVALID' }));
  });

  it('normalizeJson round-trips to the value a JSON store returns', () => {
    expect(normalizeJson({ b: undefined, a: new Date('2024-01-01T00:00:00.000Z') })).toEqual({ a: '2024-01-01T00:00:00.000Z' });
  });
});
