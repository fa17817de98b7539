import { decodeBase64url } from './base64url.js';
import { reject, type RejectionCode } from './errors.js';
import { asObject, parseStrictJson, StrictJsonError } from './strict-json.js';

export interface CompactParts {
  /** base64url(header) "." base64url(payload), as signed. */
  signingInput: string;
  /** The header segment as it appears in the token. */
  headerSegment: string;
  header: Readonly<Record<string, unknown>>;
  payloadBytes: Buffer;
  signature: Buffer;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses a JSON object strictly (duplicates, `__proto__`, invalid UTF-8 refused) and deep-frozen;
 * `syntaxCode` is the code for anything that is not one JSON object.
 */
export function strictObject(bytes: Uint8Array, syntaxCode: RejectionCode, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseStrictJson(utf8.decode(bytes), { frozen: true });
  } catch (e) {
    if (e instanceof StrictJsonError && e.reason === 'duplicate') reject('DUPLICATE_JSON_KEY', `${what} has a duplicate member name`);
    if (e instanceof StrictJsonError && e.reason === 'proto') reject('PROTO_POLLUTION', `${what} has a "__proto__" member`);
    reject(syntaxCode, `${what} is not valid UTF-8 JSON`);
  }
  const obj = asObject(value);
  if (!obj) reject(syntaxCode, `${what} is not a JSON object`);
  return obj;
}

const NO_BYTES = Buffer.alloc(0);

/**
 * Splits and decodes a compact JWS, in this order: size caps (before anything is parsed), segment
 * count, strict base64url, header JSON. The payload is decoded but parsed only after the signature.
 * `knownHeaders` maps header segments already parsed (and checked) to their header: those bytes
 * parse the same way every time, so they are not decoded again.
 */
export function parseCompact(
  token: unknown,
  maxTokenBytes: number,
  maxHeaderBytes: number,
  knownHeaders?: ReadonlyMap<string, Readonly<Record<string, unknown>>>,
): CompactParts {
  if (typeof token !== 'string') reject('TOKEN_MALFORMED', 'token is not a string');
  if (token.length > maxTokenBytes) reject('TOKEN_TOO_LARGE', `token exceeds ${maxTokenBytes} bytes`);
  const firstDot = token.indexOf('.');
  if (firstDot > maxHeaderBytes || (firstDot < 0 && token.length > maxHeaderBytes)) {
    reject('TOKEN_HEADER_TOO_LARGE', `token header exceeds ${maxHeaderBytes} bytes`);
  }
  const segments = token.split('.');
  if (segments.length === 5) reject('TOKEN_JWE_UNSUPPORTED', 'encrypted tokens (JWE) are not accepted');
  if (segments.length !== 3) reject('TOKEN_MALFORMED', 'token is not a compact JWS (three segments)');
  const [h, p, s] = segments as [string, string, string];
  const known = knownHeaders?.get(h);
  const headerBytes = known ? NO_BYTES : decodeBase64url(h);
  const payloadBytes = decodeBase64url(p);
  const signature = decodeBase64url(s);
  if (!headerBytes || !payloadBytes || !signature || h.length === 0) reject('TOKEN_MALFORMED', 'token segments are not strict base64url');
  const header = known ?? strictObject(headerBytes, 'TOKEN_MALFORMED', 'token header');
  return { signingInput: token.slice(0, h.length + 1 + p.length), headerSegment: h, header, payloadBytes, signature };
}
