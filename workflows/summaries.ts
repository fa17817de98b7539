/**
 * One-line summaries the Temporal Web UI shows for activities and timers: they name the handoff
 * in plain words so an auditor can follow a run without reading code. Never secrets.
 */
export const summarise = {
  requestSignOff: (r: { kind: string; subject: string; approvals: { quorum: number } }) =>
    `Planner → Security lead: request sign-off (${r.approvals.quorum} approval(s)) for ${r.kind} of ${r.subject}`,
  plan: (issuer: string) => `Orchestrator → Planner: plan rotation for ${issuer}`,
  generate: (alg: string, issuer: string) => `Planner → KeyManager: generate ${alg} key for ${issuer}`,
  waitPublish: (seconds: number, kid: string) => `Wait ${seconds}s so every verifier fetches ${kid.slice(0, 12)}… from the JWKS before it signs`,
  canaryBefore: (issuer: string) => `KeyManager → TokenIssuer: mint canary with the current key of ${issuer}`,
  activate: (kid: string) => `Security lead → KeyManager: activate ${kid.slice(0, 12)}…, previous key to retiring`,
  canaryAfter: (kid: string) => `KeyManager → TokenIssuer: mint canary with new key ${kid.slice(0, 12)}…`,
  validate: (issuer: string) => `TokenIssuer → Validator: verify canaries against ${issuer}'s JWKS over HTTP`,
  waitOverlap: (seconds: number, kid: string) => `Wait ${seconds}s overlap: tokens signed by ${kid.slice(0, 12)}… expire before it leaves the JWKS`,
  retire: (kid: string) => `Validator → KeyManager: retire ${kid.slice(0, 12)}… from the JWKS`,
  restore: (previousKid: string, failedKid: string) => `Orchestrator → KeyManager: compensate, restore ${previousKid.slice(0, 12)}…, withdraw ${failedKid.slice(0, 12)}…`,
  markFailed: (kid: string) => `Orchestrator → KeyManager: compensate, withdraw ${kid.slice(0, 12)}…`,
  keyStates: (kids: string[]) => `Orchestrator → KeyManager: read the states of ${kids.map((k) => `${k.slice(0, 12)}…`).join(', ')} (rollback refused)`,
  pause: (issuer: string) => `Orchestrator → TokenIssuer: pause issuance for ${issuer} (fail closed)`,
  finish: (outcome: string) => `Orchestrator → Auditor: record outcome ${outcome}`,
};
