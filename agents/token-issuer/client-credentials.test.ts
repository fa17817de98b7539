import { describe, expect, it } from 'vitest';
import { readClientCredentials } from './client-credentials.js';

const b64 = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;

describe('readClientCredentials', () => {
  it('reads client_secret_basic, form-decoding id and secret', () => {
    expect(readClientCredentials(b64('my%20app:p%3Ass+word'), {})).toEqual({ method: 'client_secret_basic', clientId: 'my app', secret: 'p:ss word' });
  });

  it('reads client_secret_post from the body', () => {
    expect(readClientCredentials(undefined, { client_id: 'a', client_secret: 's' })).toEqual({ method: 'client_secret_post', clientId: 'a', secret: 's' });
  });

  it('calls Basic plus a body secret a conflict', () => {
    expect(readClientCredentials(b64('a:s'), { client_secret: 's' }).method).toBe('conflict');
  });

  it('calls a body client_id differing from the Basic one a conflict', () => {
    expect(readClientCredentials(b64('a:s'), { client_id: 'b' }).method).toBe('conflict');
  });

  it('flags a malformed Basic header', () => {
    expect(readClientCredentials('Basic !!!', {}).method).toBe('malformed_basic');
    expect(readClientCredentials(b64('no-colon'), {}).method).toBe('malformed_basic');
    expect(readClientCredentials('Bearer abc', {}).method).toBe('malformed_basic');
  });

  it('reports none when no secret is given', () => {
    expect(readClientCredentials(undefined, { client_id: 'a' })).toEqual({ method: 'none' });
  });
});
