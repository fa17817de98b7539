import type { Queryable } from '../../../agents/shared/db.js';

/** What the codec endpoint knows of a browser session once its signature checked out. */
export interface CodecSession {
  nonce: string;
  issuedAtMs: number;
  expiresAtMs: number;
}

/** Sessions ended before their expiry: by signing out, or all at once. Stored in PostgreSQL, shared by every process. */
export interface CodecSessionEnds {
  /** True when the session was signed out or signed in before every session was ended. Rejects when it cannot tell. */
  ended(session: CodecSession): Promise<boolean>;
  endOne(session: CodecSession, atMs: number): Promise<void>;
  /** Ends every session signed in up to `atMs`. */
  endAll(atMs: number): Promise<void>;
}

/**
 * Sign-in times come from the HTTP process's clock and an end of every session from the CLI's: a
 * session signed in up to this long after the end is ended too, so a clock running ahead on the
 * HTTP host cannot keep one alive. Operators sign in again after it.
 */
export const CLOCK_MARGIN_MS = 5_000;

export function pgCodecSessionEnds(db: Queryable): CodecSessionEnds {
  return {
    async ended(s) {
      const { rows } = await db.query<{ session: string; ended_at: Date }>(`SELECT session, ended_at FROM codec_session_ends WHERE session IN ('*', $1)`, [s.nonce]);
      return rows.some((r) => r.session === s.nonce || r.ended_at.getTime() + CLOCK_MARGIN_MS >= s.issuedAtMs);
    },
    async endOne(s, atMs) {
      await db.query('DELETE FROM codec_session_ends WHERE expires_at < now()');
      await db.query(
        `INSERT INTO codec_session_ends (session, ended_at, expires_at) VALUES ($1, $2, $3) ON CONFLICT (session) DO NOTHING`,
        [s.nonce, new Date(atMs), new Date(s.expiresAtMs)],
      );
    },
    async endAll(atMs) {
      await db.query(
        `INSERT INTO codec_session_ends (session, ended_at) VALUES ('*', $1)
         ON CONFLICT (session) DO UPDATE SET ended_at = GREATEST(codec_session_ends.ended_at, EXCLUDED.ended_at)`,
        [new Date(atMs)],
      );
    },
  };
}
