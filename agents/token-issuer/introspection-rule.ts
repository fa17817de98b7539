import type { ClientRecord } from './clients.js';

/**
 * Whether a client may learn what a token holds (RFC 7662 leaves who may introspect to the server):
 * its own tokens always; another client's only when it was granted introspection (a resource
 * server's client), and then only within its tenant if it has one. Any other token reads as inactive.
 */
export function mayIntrospect(caller: Pick<ClientRecord, 'clientId' | 'mayIntrospect' | 'tenant'>, claims: Record<string, unknown>): boolean {
  if (claims.client_id === caller.clientId) return true;
  if (!caller.mayIntrospect) return false;
  return caller.tenant === undefined || claims.tenant === caller.tenant;
}
