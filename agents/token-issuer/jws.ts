import type { SigningHandle } from '../key-manager/types.js';

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

/** JWS compact serialisation, signed through the handle: base64url(header).base64url(payload).base64url(signature). */
export async function signCompact(handle: SigningHandle, header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string> {
  const input = `${encode(header)}.${encode(payload)}`;
  const signature = await handle.sign(Buffer.from(input, 'ascii'));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

/** The payload of a compact JWS WITHOUT verifying it: only for look-ups whose answer comes from trusted storage. */
export function unverifiedPayload(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(parts[1]!)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
