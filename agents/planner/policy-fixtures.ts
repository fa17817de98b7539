import { stringify } from 'yaml';

/** Test fixtures: a small valid issuer, and a policy document built from issuer entries. */
export const baseIssuer = {
  issuer: 'https://auth.example.test',
  audiences: ['https://api.example.test'],
  jwksMaxAge: '5m',
  prePublishLead: '10m',
  postRetireOverlap: '15m',
  approvals: { approvers: ['U0LEAD1', 'U0LEAD2'] },
};

type Entry = Record<string, unknown>;

/** The base issuer with `over` applied (`approvals` merged one level deep; `undefined` deletes a field). */
export function issuerWith(over: Entry = {}): Entry {
  const approvals = { ...baseIssuer.approvals, ...(over.approvals as Entry | undefined) };
  const entry: Entry = { ...baseIssuer, ...over, approvals };
  for (const [k, v] of Object.entries(entry)) if (v === undefined) delete entry[k];
  for (const [k, v] of Object.entries(approvals)) if (v === undefined) delete (approvals as Entry)[k];
  return entry;
}

/** A policy.md: a line of prose, then one yaml block. */
export function policyDoc(...issuers: Entry[]): string {
  return `# test policy\n\nProse for people.\n\n\`\`\`yaml\n${stringify({ issuers }, { aliasDuplicateObjects: false })}\`\`\`\n`;
}
