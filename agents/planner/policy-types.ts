/**
 * The parsed, validated policy: the single source of truth every agent reads. Durations are in
 * whole seconds. The document itself (policy.md) is parsed and validated by ./policy.ts.
 */
export type SigningAlgorithm = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';
export type ApprovalChannel = 'slack' | 'cli';

export interface ApprovalPolicy {
  /** Slack user ids (U…/W…) or user-group ids (S…); `cli:<name>` for CLI approvers. */
  approvers: string[];
  /** Distinct approvers needed. */
  quorum: number;
  timeoutSeconds: number;
  escalationIntervalSeconds: number;
  channels: ApprovalChannel[];
  /** Ids of one person in several channels (each group one person): counted once for quorum and self-approval. */
  people?: string[][];
  /** Slack channel id where sign-off requests are posted. */
  slackChannel?: string;
  escalationChannel?: string;
  /** Slack user-group id mentioned on urgent (revocation) requests. */
  escalationGroup?: string;
  /**
   * Policy changes only: each group's own quorum must be met, from its own approvers (one group per
   * issuer the change touches). `approvers` is then their union and `quorum` the largest of theirs.
   */
  groups?: QuorumGroup[];
  /**
   * Runs of this issuer start only when their requester signed the start request with their own
   * approver key (or the Slack app vouched for them); present only when true.
   */
  requireSignedStart?: boolean;
}

export interface QuorumGroup {
  /** What the group signs off for: an issuer, or the whole policy. */
  label: string;
  approvers: string[];
  quorum: number;
}

export interface IssuerPolicy {
  /** Exact `iss` value, an https URL (http allowed only for localhost). */
  issuer: string;
  audiences: string[];
  algorithm: SigningAlgorithm;
  /** RSA modulus length for RS256/PS256; ignored for EC/OKP. */
  rsaModulusLength: number;
  accessTokenTtlSeconds: number;
  clockSkewSeconds: number;
  /** Oldest `iat` a validator accepts; at least the TTL. */
  maxTokenAgeSeconds: number;
  rotationPeriodSeconds: number;
  jwksMaxAgeSeconds: number;
  prePublishLeadSeconds: number;
  postRetireOverlapSeconds: number;
  /** A validator that has not confirmed its revocation list within this bound fails closed. */
  revocationFreshnessSeconds: number;
  approvals: ApprovalPolicy;
}

export interface Policy {
  /** sha256 (hex) of the document's exact bytes: recorded on every key, token and audit entry. */
  version: string;
  issuers: IssuerPolicy[];
}
