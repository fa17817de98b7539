/** Where a request's client credentials came from (RFC 6749 §2.3.1). */
export type ClientCredentials =
  | { method: 'client_secret_basic' | 'client_secret_post'; clientId: string; secret: string }
  | { method: 'none' }
  | { method: 'malformed_basic'; description: string }
  | { method: 'conflict'; description: string };

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
    return { method: 'client_secret_basic', clientId, secret };
  }
  if (postId !== undefined && postSecret !== undefined && postId !== '') return { method: 'client_secret_post', clientId: postId, secret: postSecret };
  return { method: 'none' };
}
