import { describe, expect, it } from 'vitest';
import { mayIntrospect } from './introspection-rule.js';

const caller = { clientId: 'billing-api', mayIntrospect: false };
const resourceServer = { clientId: 'orders-gateway', mayIntrospect: true };

describe('who may introspect a token', () => {
  it('a client may introspect its own token', () => {
    expect(mayIntrospect(caller, { client_id: 'billing-api' })).toBe(true);
  });

  it('a client not granted introspection may not introspect another client\'s token', () => {
    expect(mayIntrospect(caller, { client_id: 'reports' })).toBe(false);
  });

  it('a client granted introspection may introspect another client\'s token', () => {
    expect(mayIntrospect(resourceServer, { client_id: 'reports' })).toBe(true);
  });

  it('a granted client with a tenant may introspect only tokens of that tenant', () => {
    const tenantServer = { ...resourceServer, tenant: 't1' };
    expect(mayIntrospect(tenantServer, { client_id: 'reports', tenant: 't1' })).toBe(true);
    expect(mayIntrospect(tenantServer, { client_id: 'reports', tenant: 't2' })).toBe(false);
    expect(mayIntrospect(tenantServer, { client_id: 'reports' })).toBe(false);
  });

  it('a token naming no client (keyturn\'s own canary) is introspected only by a granted client', () => {
    expect(mayIntrospect(caller, { sub: 'keyturn:canary' })).toBe(false);
    expect(mayIntrospect(resourceServer, { sub: 'keyturn:canary' })).toBe(true);
  });
});
