import { KeyturnError } from '../../config/errors.js';

/** The stable code `fn` fails with, `undefined` when it succeeds, or a note when it fails untyped. */
export async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (e) {
    return e instanceof KeyturnError ? e.code : `not a KeyturnError: ${String(e)}`;
  }
  return undefined;
}
