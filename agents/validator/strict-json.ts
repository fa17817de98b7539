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
  return new StrictParser(text).document();
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
    const out = Object.create(null) as Record<string, unknown>;
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
