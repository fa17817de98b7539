import { createHash } from 'node:crypto';

/** Values a refusal's audit entry names at most, and the characters it keeps of each. */
export const MAX_VALUES_NAMED = 5;
export const MAX_VALUE_CHARS = 64;

/** What a client asked for, as an audit entry keeps it: bounded whatever the request's size. */
export interface RequestedValues {
  /** How many values were asked for. */
  count: number;
  /** The first MAX_VALUES_NAMED, each cut to MAX_VALUE_CHARS characters; a character outside printable ASCII is shown as U+FFFD. */
  first: string[];
  /** True when `first` is not the whole request (values left out or cut, characters replaced). */
  partial: boolean;
  /** sha256 (hex) of the values exactly as asked for, JSON-encoded as an array: the same request always has the same digest. */
  sha256: string;
}

/**
 * A bounded description of values a client sent (requested scopes, an audience): a few hundred
 * bytes, where the raw text can be up to the request body's limit. The append-only audit log cannot
 * be made to hold a client's text in bulk, and what it holds is printable (a NUL would not fit in a
 * jsonb column at all), while the digest still tells whether two refusals asked for the same thing.
 */
export function describeRequested(values: readonly string[]): RequestedValues {
  let partial = values.length > MAX_VALUES_NAMED;
  const first = values.slice(0, MAX_VALUES_NAMED).map((v) => {
    const chars = Array.from(v);
    const kept = chars.slice(0, MAX_VALUE_CHARS).map((c) => (/^[\x20-\x7E]$/.test(c) ? c : '\uFFFD')).join('');
    if (chars.length > MAX_VALUE_CHARS || kept !== chars.slice(0, MAX_VALUE_CHARS).join('')) partial = true;
    return kept;
  });
  return { count: values.length, first, partial, sha256: createHash('sha256').update(JSON.stringify(values)).digest('hex') };
}
