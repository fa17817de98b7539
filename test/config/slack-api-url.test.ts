import { describe, expect, it } from 'vitest';
import { loadEnv } from '../../config/env.js';
import { codeOf } from '../support/error-code.js';

/** The bot token is sent to SLACK_API_URL with every Web API call. */
describe('SLACK_API_URL', () => {
  it('may be https anywhere', () => {
    expect(loadEnv({ SLACK_API_URL: 'https://slack-proxy.example.test/api/' }).SLACK_API_URL).toBe('https://slack-proxy.example.test/api/');
  });

  it('may be plain http only to this machine (a local stand-in)', () => {
    for (const url of ['http://127.0.0.1:4000/api/', 'http://localhost:4000/api/', 'http://[::1]:4000/api/']) expect(loadEnv({ SLACK_API_URL: url }).SLACK_API_URL).toBe(url);
  });

  it('is refused with CONFIG_INVALID naming it when plain http goes to another host', async () => {
    expect(await codeOf(async () => loadEnv({ SLACK_API_URL: 'http://slack-proxy.example.test/api/' }))).toBe('CONFIG_INVALID');
    expect(() => loadEnv({ SLACK_API_URL: 'http://10.0.0.8/api/' })).toThrow(/SLACK_API_URL/);
    expect(() => loadEnv({ SLACK_API_URL: 'http://127.0.0.1.evil.test/api/' })).toThrow(/SLACK_API_URL/);
  });

  it('is refused with CONFIG_INVALID naming it when it is no URL at all', async () => {
    expect(await codeOf(async () => loadEnv({ SLACK_API_URL: 'slack api' }))).toBe('CONFIG_INVALID');
  });
});
