/**
 * RevocationResponder: contains a suspected compromise at once (temporary deny-list entries, an
 * issuance pause for an active key), and after sign-off makes it permanent (every token under a
 * compromised kid deny-listed until its own exp) or lifts it as a false alarm; tells downstream
 * subscribers with signed notices. Domain logic only: the Temporal adapters live in activities/.
 */
export * from './common.js';
export * from './containment.js';
export * from './compromise.js';
export * from './webhooks.js';
export * from './containment-holds.js';
export * from './owner-revocation.js';
