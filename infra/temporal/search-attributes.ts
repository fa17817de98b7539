/** Custom search attributes that make keyturn runs findable in the Temporal Web UI and CLI. */
export const KEYTURN_SEARCH_ATTRIBUTES = {
  KeyturnIssuer: 'Keyword',
  KeyturnPhase: 'Keyword',
  KeyturnKid: 'Keyword',
  KeyturnRequester: 'Keyword',
  KeyturnOutcome: 'Keyword',
} as const;

export type KeyturnSearchAttribute = keyof typeof KEYTURN_SEARCH_ATTRIBUTES;
