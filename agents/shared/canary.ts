/**
 * The audience of keyturn's canary tokens, and the only one they carry. No relying party accepts it,
 * so a canary read from a run's history (activity inputs and results) is no credential anywhere;
 * the canary checks verify against it.
 */
export const CANARY_AUDIENCE = 'keyturn:canary';
