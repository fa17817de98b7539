/**
 * Every error keyturn raises on purpose: a stable machine-readable code, a message saying what
 * went wrong, and a hint telling a person what to do next. Messages never carry secret material.
 */
export class KeyturnError extends Error {
  override readonly name = 'KeyturnError';

  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  /** One line for a terminal: `error CODE: message (hint)`. */
  toLine(): string {
    return `error ${this.code}: ${this.message}${this.hint ? ` — ${this.hint}` : ''}`;
  }
}

export function isKeyturnError(e: unknown, code?: string): e is KeyturnError {
  return e instanceof KeyturnError && (code === undefined || e.code === code);
}
