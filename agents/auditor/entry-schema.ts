import { z } from 'zod';
import { KeyturnError } from '../../config/errors.js';
import type { AuditEntryInput } from './types.js';

const ROLES = ['Planner', 'KeyManager', 'TokenIssuer', 'Validator', 'RevocationResponder', 'Auditor', 'Orchestrator', 'Human'] as const;

const EntryInputSchema = z.object({
  actor: z.looseObject({
    role: z.enum(ROLES),
    workflowId: z.string().optional(),
    runId: z.string().optional(),
    activityId: z.string().optional(),
    slackUser: z.string().optional(),
    cliUser: z.string().optional(),
    client: z.string().optional(),
  }),
  action: z.string().regex(/^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/i, 'a dotted verb such as key.activate'),
  subject: z.record(z.string(), z.string()),
  policyVersion: z.string().min(1),
  outcome: z.enum(['ok', 'refused', 'failed']),
  details: z.record(z.string(), z.unknown()).optional(),
  requestId: z.string().min(1).max(200).optional(),
});

/** Refuses a malformed entry before anything is locked or written. */
export function validateEntryInput(entry: AuditEntryInput): void {
  const parsed = EntryInputSchema.safeParse(entry);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new KeyturnError('AUDIT_ENTRY_INVALID', `audit entry field ${issue.path.join('.') || '(root)'} is invalid: ${issue.message}`, 'Fix the caller: see AuditEntryInput in agents/auditor/types.ts.');
  }
}
