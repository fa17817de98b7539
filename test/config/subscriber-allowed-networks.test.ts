import { describe, expect, it } from 'vitest';
import { loadEnv } from '../../config/env.js';
import { codeOf } from '../support/error-code.js';

describe('KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS', () => {
  it('is read as a list of addresses and CIDR ranges', () => {
    expect(loadEnv({ KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS: '127.0.0.0/8, ::1/128,10.20.0.5' }).KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS).toEqual(['127.0.0.0/8', '::1/128', '10.20.0.5']);
  });

  it('is unset by default, also when set to the empty string: nothing non-public is allowed', () => {
    expect(loadEnv({}).KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS).toBeUndefined();
    expect(loadEnv({ KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS: '' }).KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS).toBeUndefined();
  });

  it('refuses a malformed entry with CONFIG_INVALID naming the variable and the entry', async () => {
    for (const bad of ['10.0.0.0/33', 'internal', '10.1', 'fe80::1%eth0', '127.0.0.0/8,localhost', ' , ']) {
      expect(await codeOf(async () => loadEnv({ KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS: bad }))).toBe('CONFIG_INVALID');
    }
    expect(() => loadEnv({ KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS: '127.0.0.0/8,localhost' })).toThrow(/KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS is invalid: "localhost" is not an IP address or CIDR range/);
  });
});
