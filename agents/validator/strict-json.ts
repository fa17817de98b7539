/**
 * A strict JSON parser for JOSE headers and claim sets. JSON.parse silently keeps the LAST of two
 * duplicate members (so two parsers can disagree about what a token says) and turns a `__proto__`
 * member into an own property that later spreads/merges may treat as a prototype. This parser
 * refuses both, builds null-prototype objects, and bounds nesting depth.
 */
export type StrictJsonFailure = 'syntax' | 'duplicate' | 'proto';

export class StrictJsonError extends Error {
  constructor(readonly reason: StrictJsonFailure, message: string) {
    super(message);
  }
}

const MAX_DEPTH = 32;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// A JSON string: no raw control characters, only the escapes JSON defines.
// eslint-disable-next-line no-control-regex -- refusing raw control characters is the point
const STRING = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;
const WS = /[ \t\n\r]*/y;

export function parseStrictJson(text: string): unknown {
  let pos = 0;
  const fail = (reason: StrictJsonFailure, message: string): never => {
    throw new StrictJsonError(reason, message);
  };
  const skip = () => {
    WS.lastIndex = pos;
    WS.exec(text);
    pos = WS.lastIndex;
  };
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return undefined;
    pos = re.lastIndex;
    return m[0];
  };
  const literal = (word: string, value: unknown): unknown => {
    if (!text.startsWith(word, pos)) fail('syntax', 'invalid JSON literal');
    pos += word.length;
    return value;
  };
  const string = (): string => {
    const raw = match(STRING);
    if (raw === undefined) return fail('syntax', 'invalid JSON string');
    return JSON.parse(raw) as string;
  };
  const value = (depth: number): unknown => {
    if (depth > MAX_DEPTH) fail('syntax', 'JSON nested too deeply');
    skip();
    const c = text[pos];
    if (c === '{') return object(depth);
    if (c === '[') return array(depth);
    if (c === '"') return string();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    const n = match(NUMBER);
    if (n === undefined) return fail('syntax', 'unexpected character in JSON');
    return Number(n);
  };
  const object = (depth: number): Record<string, unknown> => {
    const out = Object.create(null) as Record<string, unknown>;
    pos++;
    skip();
    if (text[pos] === '}') {
      pos++;
      return out;
    }
    for (;;) {
      skip();
      if (text[pos] !== '"') fail('syntax', 'expected a member name');
      const key = string();
      if (key === '__proto__') fail('proto', 'JSON member "__proto__" refused');
      if (Object.hasOwn(out, key)) fail('duplicate', 'duplicate JSON member name');
      skip();
      if (text[pos] !== ':') fail('syntax', 'expected ":"');
      pos++;
      out[key] = value(depth + 1);
      skip();
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (text[pos] === '}') {
        pos++;
        return out;
      }
      fail('syntax', 'expected "," or "}"');
    }
  };
  const array = (depth: number): unknown[] => {
    const out: unknown[] = [];
    pos++;
    skip();
    if (text[pos] === ']') {
      pos++;
      return out;
    }
    for (;;) {
      out.push(value(depth + 1));
      skip();
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (text[pos] === ']') {
        pos++;
        return out;
      }
      fail('syntax', 'expected "," or "]"');
    }
  };
  const result = value(0);
  skip();
  if (pos !== text.length) fail('syntax', 'trailing characters after JSON');
  return result;
}

/** A JSON object (not array, not null), or undefined. */
export function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
