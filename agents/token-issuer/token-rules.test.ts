import { describe, expect, it } from 'vitest';
import type { IssuerPolicy } from '../planner/policy-types.js';
import { audienceFor, grantScopes } from './token-issuer.js';

const ip = (audiences: string[]) => ({ issuer: 'https://iss.test', audiences }) as IssuerPolicy;
const code = (f: () => unknown) => {
  try {
    f();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe('audienceFor', () => {
  it('is a string for one policy audience and an array for several', () => {
    expect(audienceFor(ip(['a']))).toBe('a');
    expect(audienceFor(ip(['a', 'b']))).toEqual(['a', 'b']);
  });

  it('is the requested audience when the policy has it, INVALID_TARGET otherwise', () => {
    expect(audienceFor(ip(['a', 'b']), 'b')).toBe('b');
    expect(code(() => audienceFor(ip(['a']), 'c'))).toBe('INVALID_TARGET');
  });
});

describe('audienceFor a client limited to some audiences', () => {
  it('is those of the issuer\'s audiences the client may have, in the policy\'s order', () => {
    expect(audienceFor(ip(['a', 'b', 'c']), undefined, ['c', 'a', 'x'])).toEqual(['a', 'c']);
    expect(audienceFor(ip(['a', 'b']), undefined, ['b'])).toBe('b');
  });

  it('refuses a requested audience the issuer serves but the client may not have', () => {
    expect(code(() => audienceFor(ip(['a', 'b']), 'b', ['a']))).toBe('INVALID_TARGET');
    expect(audienceFor(ip(['a', 'b']), 'a', ['a'])).toBe('a');
  });

  it('refuses a client that may have none of the issuer\'s audiences, rather than issue a token for all', () => {
    expect(code(() => audienceFor(ip(['a', 'b']), undefined, ['x']))).toBe('INVALID_TARGET');
  });
});

describe('grantScopes', () => {
  it('grants all client scopes when none are requested', () => {
    expect(grantScopes(undefined, ['r', 'w'])).toEqual(['r', 'w']);
  });

  it('grants the requested subset without duplicates', () => {
    expect(grantScopes(['w', 'w'], ['r', 'w'])).toEqual(['w']);
  });

  it('refuses any scope outside the client with INVALID_SCOPE', () => {
    expect(code(() => grantScopes(['r', 'admin'], ['r']))).toBe('INVALID_SCOPE');
  });
});
