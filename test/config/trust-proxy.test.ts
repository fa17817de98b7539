import { describe, expect, it } from 'vitest';
import { loadEnv } from '../../config/env.js';
import { addressKey } from '../../http/oauth-client-auth.js';
import { codeOf } from '../support/error-code.js';

describe('KEYTURN_TRUST_PROXY', () => {
  it('is read as a list of addresses and CIDR ranges', () => {
    expect(loadEnv({ KEYTURN_TRUST_PROXY: '10.0.0.5, 10.1.0.0/16,fd00::/8' }).KEYTURN_TRUST_PROXY).toEqual(['10.0.0.5', '10.1.0.0/16', 'fd00::/8']);
  });

  it('is unset by default: no proxy is trusted', () => {
    expect(loadEnv({}).KEYTURN_TRUST_PROXY).toBeUndefined();
  });

  it('set to the empty string (compose passing an empty variable through) counts as unset, as do KEYTURN_METRICS_TOKEN and KEYTURN_PUBLIC_URL', () => {
    const env = loadEnv({ KEYTURN_TRUST_PROXY: '', KEYTURN_METRICS_TOKEN: '', KEYTURN_PUBLIC_URL: '' });
    expect([env.KEYTURN_TRUST_PROXY, env.KEYTURN_METRICS_TOKEN, env.KEYTURN_PUBLIC_URL]).toEqual([undefined, undefined, undefined]);
  });

  it('refuses anything but addresses and ranges with CONFIG_INVALID naming the variable', async () => {
    for (const bad of ['loopback', '10.1', '0x0a.0.0.1', '10.0.0.0/33', ' , ']) {
      expect(await codeOf(async () => loadEnv({ KEYTURN_TRUST_PROXY: bad }))).toBe('CONFIG_INVALID');
    }
    expect(() => loadEnv({ KEYTURN_TRUST_PROXY: 'loopback' })).toThrow(/KEYTURN_TRUST_PROXY/);
  });
});

describe('the failure limiter\'s key for a client address', () => {
  it('is the IPv4 address itself, also when written IPv4-mapped', () => {
    expect([addressKey('192.0.2.7'), addressKey('::ffff:192.0.2.7')]).toEqual(['ip:192.0.2.7', 'ip:192.0.2.7']);
  });

  it('is the /64 for IPv6, however the address is written', () => {
    expect(addressKey('2001:db8:1:2::1')).toBe(addressKey('2001:0db8:0001:0002:ffff:0:0:9'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
  });
});
