/** Deterministic naming shared by workflows and their starters. */
export function issuerSlug(issuer: string): string {
  return issuer.replace(/^https?:\/\//, '').replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').toLowerCase().slice(0, 80);
}

export function rotationWorkflowId(issuer: string, planId: string): string {
  return `rotate-${issuerSlug(issuer)}-${planId}`;
}

export function revocationWorkflowId(kind: string, value: string, requestId: string): string {
  return `revoke-${kind}-${value.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 60)}-${requestId}`;
}

/** "cli:alice", "slack:U123", "schedule:https://…": the requester as shown and searched, prefixed once. */
export function requesterLabel(r: { kind: string; id: string }): string {
  return r.id.startsWith(`${r.kind}:`) ? r.id : `${r.kind}:${r.id}`;
}
