import { appendAudit } from '../../agents/auditor/audit-log.js';
import type { ChannelKeyAudit } from '../../agents/approvals/channel-keys.js';

/** Who registers the keys a test stack needs: its set-up, audited like any registration. */
export const setupAudit: ChannelKeyAudit = { appendAudit, actor: { role: 'Human', cliUser: 'cli:test-setup' }, policyVersion: 'none' };
