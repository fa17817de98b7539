/**
 * A strict JSON parser for JOSE headers and claim sets. JSON.parse silently keeps the LAST of two
 * duplicate members (so two parsers can disagree about what a token says) and turns a `__proto__`
 * member into an own property that later spreads/merges may treat as a prototype. This parser
 * refuses both, builds objects that inherit nothing, and bounds nesting depth.
 */
import { deepFreeze } from './deep-freeze.js';

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

/**
 * Parses `text` strictly. `frozen` returns the value deep-frozen. Text that is exactly what
 * JSON.stringify writes for its own JSON.parse (as tokens minted by JSON.stringify are) takes a
 * native path with the same result; anything else goes through the strict parser.
 */
export function parseStrictJson(text: string, o: { frozen?: boolean } = {}): unknown {
  const fast = canonicalParse(text, o.frozen === true);
  if (fast !== NOT_CANONICAL) return fast;
  const value = new StrictParser(text).document();
  return o.frozen ? deepFreeze(value) : value;
}

const NOT_CANONICAL = Symbol('not canonical');

/**
 * The prototype of every parsed object: empty, frozen and itself without a prototype, so a parsed
 * object inherits nothing, not even from a polluted Object.prototype. A null prototype would do
 * the same but puts V8 objects in dictionary mode, making every claim read several times slower.
 */
const INHERITS_NOTHING: object = Object.freeze(Object.create(null) as object);

function emptyObject(): Record<string, unknown> {
  return Object.create(INHERITS_NOTHING) as Record<string, unknown>;
}

/**
 * JSON.parse, accepted only when JSON.stringify writes the very same text back: then no member was
 * a duplicate (JSON.parse would have dropped one) and nothing was spelled unusually. A `__proto__`
 * member or nesting deeper than the strict parser allows also sends the text to the strict parser,
 * which refuses it with the precise reason. Objects are rebuilt to inherit nothing, as the strict
 * parser builds them.
 */
function canonicalParse(text: string, frozen: boolean): unknown {
  if (text.includes('__proto__')) return NOT_CANONICAL;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return NOT_CANONICAL;
  }
  // Depth first: JSON.stringify would overflow the stack on text nested thousands deep.
  const value = rebuilt(parsed, 0, frozen);
  return value !== NOT_CANONICAL && JSON.stringify(parsed) === text ? value : NOT_CANONICAL;
}

function rebuilt(v: unknown, depth: number, frozen: boolean): unknown {
  if (depth > MAX_DEPTH) return NOT_CANONICAL;
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const items: unknown[] = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) {
      const item = rebuilt(v[i], depth + 1, frozen);
      if (item === NOT_CANONICAL) return NOT_CANONICAL;
      items[i] = item;
    }
    return frozen ? Object.freeze(items) : items;
  }
  const out = emptyObject();
  // Own keys only: for…in would also copy whatever a polluted Object.prototype makes enumerable.
  for (const key of Object.keys(v)) {
    const member = rebuilt((v as Record<string, unknown>)[key], depth + 1, frozen);
    if (member === NOT_CANONICAL) return NOT_CANONICAL;
    out[key] = member;
  }
  return frozen ? Object.freeze(out) : out;
}

function fail(reason: StrictJsonFailure, message: string): never {
  throw new StrictJsonError(reason, message);
}

/** One parse: a cursor over the text. Methods, not per-call closures: this runs on every token. */
class StrictParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  document(): unknown {
    const result = this.value(0);
    this.skip();
    if (this.pos !== this.text.length) fail('syntax', 'trailing characters after JSON');
    return result;
  }

  private skip(): void {
    WS.lastIndex = this.pos;
    WS.exec(this.text);
    this.pos = WS.lastIndex;
  }

  private match(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m) return undefined;
    this.pos = re.lastIndex;
    return m[0];
  }

  private literal(word: string, value: unknown): unknown {
    if (!this.text.startsWith(word, this.pos)) fail('syntax', 'invalid JSON literal');
    this.pos += word.length;
    return value;
  }

  private string(): string {
    const raw = this.match(STRING);
    if (raw === undefined) return fail('syntax', 'invalid JSON string');
    // Without escapes (the common case) the text between the quotes is the value; STRING has refused control characters.
    return raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  }

  private value(depth: number): unknown {
    if (depth > MAX_DEPTH) fail('syntax', 'JSON nested too deeply');
    this.skip();
    const c = this.text[this.pos];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    if (c === 't') return this.literal('true', true);
    if (c === 'f') return this.literal('false', false);
    if (c === 'n') return this.literal('null', null);
    const n = this.match(NUMBER);
    if (n === undefined) return fail('syntax', 'unexpected character in JSON');
    return Number(n);
  }

  private object(depth: number): Record<string, unknown> {
    const out = emptyObject();
    this.pos++;
    this.skip();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skip();
      if (this.text[this.pos] !== '"') fail('syntax', 'expected a member name');
      const key = this.string();
      if (key === '__proto__') fail('proto', 'JSON member "__proto__" refused');
      if (Object.hasOwn(out, key)) fail('duplicate', 'duplicate JSON member name');
      this.skip();
      if (this.text[this.pos] !== ':') fail('syntax', 'expected ":"');
      this.pos++;
      out[key] = this.value(depth + 1);
      this.skip();
      if (this.text[this.pos] === ',') {
        this.pos++;
        continue;
      }
      if (this.text[this.pos] === '}') {
        this.pos++;
        return out;
      }
      fail('syntax', 'expected "," or "}"');
    }
  }

  private array(depth: number): unknown[] {
    const out: unknown[] = [];
    this.pos++;
    this.skip();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.skip();
      if (this.text[this.pos] === ',') {
        this.pos++;
        continue;
      }
      if (this.text[this.pos] === ']') {
        this.pos++;
        return out;
      }
      fail('syntax', 'expected "," or "]"');
    }
  }
}

/** A JSON object (not array, not null), or undefined. */
export function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
