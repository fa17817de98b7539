import { describe, expect, it } from 'vitest';
import { MAX_SECRET_CHARS, readClientCredentials } from './client-credentials.js';

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
  it('refuses a secret or client id too long to be keyturn\'s, from Basic or the body, without handing it on', () => {
    const long = 's'.repeat(MAX_SECRET_CHARS + 1);
    expect(readClientCredentials(b64(`a:${long}`), {})).toMatchObject({ method: 'oversized', basic: true });
    expect(readClientCredentials(undefined, { client_id: 'a', client_secret: long })).toMatchObject({ method: 'oversized', basic: false });
    expect(readClientCredentials(undefined, { client_id: 'i'.repeat(129), client_secret: 's' }).method).toBe('oversized');
    expect(readClientCredentials(undefined, { client_id: 'a', client_secret: 's'.repeat(MAX_SECRET_CHARS) }).method).toBe('client_secret_post');
  });
});
