const ALPHABET = /^[A-Za-z0-9_-]*$/;
const DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Strict base64url (RFC 7515 §2): the URL-safe alphabet only, no padding, no whitespace, and the
 * canonical encoding only (unused trailing bits zero), so one byte string has exactly one
 * spelling. Buffer.from(…, 'base64url') alone accepts all of those. Undefined when not strict.
 */
export function decodeBase64url(segment: string): Buffer | undefined {
  const tail = segment.length % 4;
  if (tail === 1 || !ALPHABET.test(segment)) return undefined;
  // A final character that carries 4 (tail 2) or 2 (tail 3) unused bits must have them zero.
  if (tail !== 0 && (DIGITS.indexOf(segment[segment.length - 1]!) & (tail === 2 ? 0x0f : 0x03)) !== 0) return undefined;
  return Buffer.from(segment, 'base64url');
}
