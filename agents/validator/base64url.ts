const ALPHABET = /^[A-Za-z0-9_-]*$/;

/**
 * Strict base64url (RFC 7515 §2): the URL-safe alphabet only, no padding, no whitespace, and the
 * canonical encoding only (unused trailing bits zero), so one byte string has exactly one
 * spelling. Buffer.from(…, 'base64url') alone accepts all of those. Undefined when not strict.
 */
export function decodeBase64url(segment: string): Buffer | undefined {
  if (!ALPHABET.test(segment) || segment.length % 4 === 1) return undefined;
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
}
