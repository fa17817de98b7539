import { KeyturnError } from '../config/errors.js';

/** What `/keyturn revoke` asks for: a key by kid, or a token (jti) or subject (sub) of one issuer. */
export type RevokeCommand = { kind: 'kid'; value: string; reason: string } | { kind: 'jti' | 'sub'; value: string; issuer: string; reason: string };

const USAGE = 'usage: /keyturn revoke kid <kid> <reason> | revoke jti|sub <value> <issuer> <reason>';

/** `kid <kid> <reason…>`, or `jti|sub <value> <issuer> <reason…>`; REVOCATION_INVALID otherwise. */
export function parseRevokeCommand(args: string[]): RevokeCommand {
  const [kind, value, ...rest] = args;
  if ((kind !== 'kid' && kind !== 'jti' && kind !== 'sub') || !value) {
    throw new KeyturnError('REVOCATION_INVALID', USAGE, 'Name what to revoke and why.');
  }
  if (kind === 'kid') {
    const reason = rest.join(' ');
    if (!reason) throw new KeyturnError('REVOCATION_INVALID', USAGE, 'Give a reason: approvers see it and it is audited.');
    return { kind, value, reason };
  }
  const [issuer, ...words] = rest;
  const reason = words.join(' ');
  if (!issuer || !reason) throw new KeyturnError('REVOCATION_INVALID', USAGE, 'Give the issuer (for jti/sub) and a reason.');
  return { kind, value, issuer, reason };
}
