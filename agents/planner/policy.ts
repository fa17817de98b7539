import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { KeyturnError } from '../../config/errors.js';
import { checkDistinctIssuers, checkIssuer, policyRefusal } from './policy-rules.js';
import { describeIssue, policyDocumentSchema } from './policy-schema.js';
import type { IssuerPolicy, Policy } from './policy-types.js';

export { effectivePolicyText } from './policy-text.js';

/**
 * A policy document is Markdown for people with exactly one fenced ```yaml block for keyturn. The
 * fence starts at the beginning of a line (```yaml or ```yml) and ends at the next line that is
 * only ```. Everything outside it is commentary and not parsed, but it is part of the version.
 */
const YAML_FENCE = /^```ya?ml[ \t]*\r?\n([\s\S]*?)^```[ \t]*\r?$/gm;

export function extractYamlBlock(text: string): string {
  const blocks = [...text.matchAll(YAML_FENCE)];
  if (blocks.length === 0) {
    throw new KeyturnError('POLICY_NO_YAML_BLOCK', 'the policy document has no fenced ```yaml block', 'Put the machine-readable policy in one ```yaml block; see policy.md.');
  }
  if (blocks.length > 1) throw policyRefusal('(document)', 'yaml-block-ambiguous', `has ${blocks.length} yaml blocks; exactly one is allowed`);
  return blocks[0]![1]!;
}

/** Parses and validates a policy document. An unsafe or ambiguous policy is refused, naming the field and the rule. */
export function parsePolicy(text: string): Policy {
  const raw = parseYamlBlock(extractYamlBlock(text));
  const parsed = policyDocumentSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues;
    // A misspelt key also makes the real one look missing: name the misspelling.
    const first = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
    const { field, rule, message } = describeIssue(first);
    throw policyRefusal(field, rule, message);
  }
  if (parsed.data.issuers.length === 0) throw policyRefusal('issuers', 'issuers-empty', 'must list at least one issuer');
  const issuers = parsed.data.issuers.map((doc, i) => checkIssuer(doc, `issuers[${i}]`));
  checkDistinctIssuers(issuers);
  return { version: policyVersion(text), issuers };
}

/** sha256 (hex) of the document's exact UTF-8 bytes. */
export function policyVersion(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A policy file's text. Bytes that are not UTF-8 are refused rather than silently replaced, so the version is the file's hash. */
export async function readPolicyText(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    throw new KeyturnError('POLICY_NOT_FOUND', `cannot read the policy document ${path}`, 'Pass the path of a policy.md, or set KEYTURN_POLICY.');
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw policyRefusal('(document)', 'not-utf8', 'is not valid UTF-8');
  }
}

/** Reads and parses a policy file. */
export async function loadPolicy(path: string): Promise<Policy> {
  return parsePolicy(await readPolicyText(path));
}

/** The policy of one issuer; PLAN_UNKNOWN_ISSUER when the policy does not list it. */
export function issuerPolicy(policy: Policy, issuer: string): IssuerPolicy {
  const found = policy.issuers.find((p) => p.issuer === issuer);
  if (!found) {
    throw new KeyturnError('PLAN_UNKNOWN_ISSUER', `the policy has no issuer ${issuer}`, `Known issuers: ${policy.issuers.map((p) => p.issuer).join(', ')}.`, { issuer });
  }
  return found;
}

function parseYamlBlock(yamlText: string): unknown {
  try {
    return parseYaml(yamlText, { uniqueKeys: true, prettyErrors: false });
  } catch (e) {
    throw policyRefusal('(yaml)', 'yaml-unparsable', (e as Error).message.split('\n')[0]!);
  }
}
