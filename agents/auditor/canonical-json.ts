import { KeyturnError } from '../../config/errors.js';

/**
 * Canonical JSON: object keys sorted (UTF-16 code unit order) at every depth, no whitespace,
 * `undefined` members dropped (as JSON.stringify does), `toJSON()` honoured (so Dates become ISO
 * strings). The same value always yields the same bytes, which is what the audit hash needs.
 */
export function canonicalJson(value: unknown): string {
  const out = encode(value, '$');
  if (out === undefined) throw notJson('$', 'undefined');
  return out;
}

/** The value as it will read back from JSON storage (jsonb): what gets stored is what gets hashed. */
export function normalizeJson<T>(value: T): T {
  return JSON.parse(canonicalJson(value)) as T;
}

function encode(value: unknown, path: string): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON(): unknown }).toJSON();
  }
  switch (typeof value) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      throw notJson(path, 'a bigint');
    case 'number':
      if (!Number.isFinite(value)) throw notJson(path, String(value));
      return JSON.stringify(value);
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    return `[${value.map((v, i) => encode(v, `${path}[${i}]`) ?? 'null').join(',')}]`;
  }
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = encode(obj[key], `${path}.${key}`);
    if (v !== undefined) parts.push(`${JSON.stringify(key)}:${v}`);
  }
  return `{${parts.join(',')}}`;
}

function notJson(path: string, what: string): KeyturnError {
  return new KeyturnError('AUDIT_ENTRY_INVALID', `audit value at ${path} is ${what}, which JSON cannot represent`, 'Pass plain JSON values (strings, finite numbers, booleans, null, arrays, objects).');
}
