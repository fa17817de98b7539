/** Where a request's client credentials came from (RFC 6749 §2.3.1). */
export type ClientCredentials =
  | { method: 'client_secret_basic' | 'client_secret_post'; clientId: string; secret: string }
  | { method: 'none' }
  | { method: 'malformed_basic'; description: string }
  | { method: 'oversized'; basic: boolean; description: string }
  | { method: 'conflict'; description: string };

/**
 * keyturn's secrets are 43 characters and client ids at most 128: longer credentials cannot match,
 * and are refused before anything reads them. Unicode NFC (applied before a secret is hashed or
 * looked up) costs time quadratic in a run of combining marks, and a 16 KiB form of them held the
 * event loop for over 100 ms per call.
 */
export const MAX_SECRET_CHARS = 128;
export const MAX_CLIENT_ID_CHARS = 128;

function oversized(clientId: string, secret: string, basic: boolean): ClientCredentials | undefined {
  if (clientId.length <= MAX_CLIENT_ID_CHARS && secret.length <= MAX_SECRET_CHARS) return undefined;
  return { method: 'oversized', basic, description: `client_id may have at most ${MAX_CLIENT_ID_CHARS} characters and client_secret at most ${MAX_SECRET_CHARS}: check that you send the client's own id and secret` };
}

/** application/x-www-form-urlencoded decoding of one credential part ('+' is a space). */
function formDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Reads client_secret_basic (Authorization: Basic base64(urlenc(id):urlenc(secret))) or
 * client_secret_post (client_id + client_secret in the body). Using both is a conflict, as is a
 * body client_id that differs from the Basic one.
 */
export function readClientCredentials(authorization: string | undefined, body: Record<string, string>): ClientCredentials {
  const postSecret = body.client_secret;
  const postId = body.client_id;
  if (authorization !== undefined && authorization !== '') {
    const m = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(authorization);
    if (!m) return { method: 'malformed_basic', description: 'the Authorization header must be `Basic base64(client_id:client_secret)`' };
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const clientId = colon > 0 ? formDecode(decoded.slice(0, colon)) : undefined;
    const secret = colon > 0 ? formDecode(decoded.slice(colon + 1)) : undefined;
    if (!clientId || secret === undefined) {
      return { method: 'malformed_basic', description: 'the Basic credentials must be `client_id:client_secret`, each form-urlencoded, then base64-encoded' };
    }
    if (postSecret !== undefined) return { method: 'conflict', description: 'use one client authentication method: either the Authorization header (client_secret_basic) or client_secret in the body (client_secret_post), not both' };
    if (postId !== undefined && postId !== clientId) return { method: 'conflict', description: 'client_id in the body differs from the one in the Authorization header' };
    return oversized(clientId, secret, true) ?? { method: 'client_secret_basic', clientId, secret };
  }
  if (postId !== undefined && postSecret !== undefined && postId !== '') return oversized(postId, postSecret, false) ?? { method: 'client_secret_post', clientId: postId, secret: postSecret };
  return { method: 'none' };
}
