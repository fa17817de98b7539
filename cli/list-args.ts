import { KeyturnError } from '../config/errors.js';

/** A comma-separated list as the CLI takes scopes, audiences and issuers: trimmed, empty items dropped. */
export const listOf = (text: string): string[] => text.split(',').map((s) => s.trim()).filter((s) => s !== '');

/** `<list>` or `--all`, exactly one of them: the list, or undefined for all. `example` shows the command with a list. */
export function listOrAll(list: string | undefined, all: boolean | undefined, what: string, example: string): string[] | undefined {
  if ((list === undefined) === (all !== true)) {
    throw new KeyturnError('INVALID_ARGUMENT', `give either a comma-separated list of ${what} or --all`, `e.g. \`${example}\`, or \`--all\`.`);
  }
  return all ? undefined : listOf(list!);
}
