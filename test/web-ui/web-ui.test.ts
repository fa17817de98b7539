import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { envForOtherPrograms } from '../../infra/process.js';
import type { RunResult } from '../../workflows/types.js';
import { result, seedActiveKey } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/** Debian's chromium (`apt-get install chromium`); playwright-core brings no browser of its own. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'];
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/web-ui/', import.meta.url));
const UI_TIMEOUT = 30_000;

interface Run {
  workflowId: string;
  runId: string;
  result: RunResult;
}

/**
 * What an auditor sees in the Temporal Web UI for a rotation: a real browser opens the dev
 * server's UI on a completed run and on a rolled-back one, and finds the handoff summaries, the
 * approver and the outcome there.
 */
describe('the Temporal Web UI shows a rotation to an auditor, with no codec', () => {
  let stack: RotationStack;
  let browser: Browser;
  let ui: string;
  let completed: Run;
  let rolledBack: Run;
  let plainContext: BrowserContext | undefined;
  let codecContext: BrowserContext | undefined;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}: the Web UI test needs Debian's chromium package (run \`apt-get install -y chromium\` as root).`);
    }
    ui = inject('temporalUiUrl').replace(/\/$/, '');
    if (!ui) throw new Error('No Temporal Web UI URL: with an external TEMPORAL_ADDRESS, set KEYTURN_TEMPORAL_UI_URL to its Web UI.');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, env: envForOtherPrograms() });
    mkdirSync(ARTIFACTS, { recursive: true });

    stack = await startRotationStack({ name: 'webui', issuer: { postRetireOverlap: '6s' }, codec: { allowedOrigins: [ui] } });
    await seedActiveKey(stack);

    const a = await stack.rotate('quarterly rotation (web ui)');
    await stack.decide(a, 'approve', 'cli:alice');
    completed = { workflowId: a.workflowId, runId: (await a.describe()).runId, result: await result(a) };

    const b = await stack.rotate('rotation rolled back (web ui)');
    await stack.decide(b, 'approve', 'cli:alice');
    await stack.waitFor(b, (s) => s.phase === 'overlap', 'the overlap');
    await stack.decide(b, 'rollback', 'cli:bob', 'clients report 401s');
    rolledBack = { workflowId: b.workflowId, runId: (await b.describe()).runId, result: await result(b) };
  }, 240_000);

  it('the workflow input stays encrypted for the auditor; an operator signed in to the codec reads it', async () => {
    const auditorPage = await open(completed, 'history');
    const operatorPage = await open(completed, 'history', 'operator');
    try {
      await resultPanel(auditorPage);
      expect(await panel(auditorPage, 'Input').innerText()).not.toContain('quarterly rotation (web ui)');
      await panel(operatorPage, 'Input').getByText('"planId"').waitFor({ timeout: UI_TIMEOUT });
      expect(await panel(operatorPage, 'Input').innerText()).toContain('quarterly rotation (web ui)');
    } finally {
      await auditorPage.close();
      await operatorPage.close();
    }
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  /**
   * Summaries, details and results are display payloads, readable without a codec; every other
   * payload is encrypted. An operator who must read those signs in to keyturn's codec endpoint and
   * points the UI at it with cross-origin credentials (the UI's own Codec Server settings, kept in
   * localStorage).
   */
  const signedInContext = async (): Promise<BrowserContext> => {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1200 } });
    const login = await context.newPage();
    await login.goto(`${stack.httpUrl}/codec/login`);
    await login.getByLabel('Codec token').fill(stack.codecToken!);
    await login.getByRole('button', { name: 'Sign in' }).click();
    await login.getByText('Signed in to the keyturn codec').waitFor({ timeout: UI_TIMEOUT });
    await login.close();
    const settings = { endpoint: `${stack.httpUrl}/codec`, includeCredentials: true, overrideRemoteCodecConfiguration: true };
    await context.addInitScript({ content: Object.entries(settings).map(([k, v]) => `localStorage.setItem(${JSON.stringify(k)}, ${JSON.stringify(JSON.stringify(v))});`).join('\n') });
    return context;
  };

  const open = async (run: Run, tab: 'history' | 'metadata', as: 'auditor' | 'operator' = 'auditor'): Promise<Page> => {
    const context = as === 'auditor' ? (plainContext ??= await browser.newContext({ viewport: { width: 1600, height: 1200 } })) : (codecContext ??= await signedInContext());
    const page = await context.newPage();
    await page.goto(`${ui}/namespaces/${encodeURIComponent(stack.namespace)}/workflows/${encodeURIComponent(run.workflowId)}/${run.runId}/history`);
    await page.getByText(run.workflowId, { exact: true }).first().waitFor({ timeout: UI_TIMEOUT });
    if (tab === 'metadata') {
      await page.getByText('User Metadata', { exact: true }).click();
      await page.getByText('Current Details', { exact: true }).waitFor({ timeout: UI_TIMEOUT });
    }
    return page;
  };

  /** The text in one of the history page's Input and Result panels, as the UI renders it. */
  const panel = (page: Page, title: 'Input' | 'Result') => page.locator(`div:has(> h2:text-is("${title}"))`).locator('.cm-content').first();
  const resultPanel = async (page: Page): Promise<RunResult> => {
    const editor = panel(page, 'Result');
    await editor.getByText('"outcome"').waitFor({ timeout: UI_TIMEOUT });
    return JSON.parse(await editor.innerText()) as RunResult;
  };

  /** Labels of the timeline's activity and timer bars: `activityType • summary`. */
  const timelineLabel = (page: Page, text: string) => page.locator('svg text').filter({ hasText: text }).first();

  /**
   * The Current Details panel (User Metadata tab): the workflow's setCurrentDetails markdown, which
   * the UI renders in a sandboxed iframe of its own; it is the one whose content starts with the phase.
   */
  const currentDetails = (page: Page) => page.frameLocator('iframe[title="output"][src*="content=**Phase%3A**"]');

  /** Rows of the "Events with Metadata" list (User Metadata tab): one summary each. */
  const metadataRow = (page: Page, text: string) => page.getByText(text).first();

  it('a completed rotation: handoff summaries on the timeline, the approver and the outcome in the result', async () => {
    expect(completed.result.outcome).toBe('completed');
    const page = await open(completed, 'history');
    try {
      const shown = await resultPanel(page);
      expect(shown).toMatchObject({ outcome: 'completed', planHash: expect.stringMatching(/^[0-9a-f]{64}$/), approvals: [expect.objectContaining({ approver: 'cli:alice', decision: 'approve' })], newKid: completed.result.newKid });
      for (const label of ['planRotation • Orchestrator → Planner: plan rotation', 'generateKey • Planner → KeyManager: generate ES256 key', 'activateKey • Security lead → KeyManager: activate', 'validateCanaries • TokenIssuer → Validator', 'retireKey • Validator → KeyManager: retire', 'recordHandoff • Orchestrator → Auditor: record outcome completed']) {
        await timelineLabel(page, label).waitFor({ timeout: UI_TIMEOUT });
      }
      await timelineLabel(page, 'Wait 6s overlap').waitFor({ timeout: UI_TIMEOUT });
      await page.screenshot({ path: `${ARTIFACTS}completed-history.png`, fullPage: true });
    } finally {
      await page.close();
    }
  });

  it('a completed rotation: the User Metadata tab lists every handoff and the approver in the current details', async () => {
    const page = await open(completed, 'metadata');
    try {
      const details = currentDetails(page);
      await details.getByText('cli:alice (approve)').waitFor({ timeout: UI_TIMEOUT });
      expect(await details.locator('body').innerText()).toMatch(/^Phase:\s*completed\s+Plan hash:\s*[0-9a-f]{64}\s+Policy version:\s*[0-9a-f]{12} \(kept for this run\)\s+Deadlines:\s*sign-off by [^;]+; activation at [^;]+; retirement at \S+\s+Approvals:\s*cli:alice \(approve\)$/);
      for (const summary of ['Orchestrator → Planner: plan rotation', 'Orchestrator → approvers: cli:alice approved', 'Planner → KeyManager: generate ES256 key', 'KeyManager → TokenIssuer: mint canary with new key', 'TokenIssuer → Validator: verify canaries', 'Validator → KeyManager: retire', 'Orchestrator → Auditor: record outcome completed']) {
        await metadataRow(page, summary).waitFor({ timeout: UI_TIMEOUT });
      }
      await page.screenshot({ path: `${ARTIFACTS}completed-metadata.png`, fullPage: true });
    } finally {
      await page.close();
    }
  });

  it('a rolled-back rotation: the rollback signal, the compensation and outcome rolled_back', async () => {
    expect(rolledBack.result.outcome).toBe('rolled_back');
    const page = await open(rolledBack, 'history');
    try {
      const shown = await resultPanel(page);
      expect(shown).toMatchObject({ outcome: 'rolled_back', reason: expect.stringContaining('rollback requested by cli:bob: clients report 401s'), approvals: [expect.objectContaining({ approver: 'cli:alice' })] });
      for (const label of ['generateKey • Planner → KeyManager', 'activateKey • Security lead → KeyManager', 'restorePreviousKey • Orchestrator → KeyManager: compensate, restore', 'recordHandoff • Orchestrator → Auditor: record outcome rolled_back']) {
        await timelineLabel(page, label).waitFor({ timeout: UI_TIMEOUT });
      }
      // The attested rollback signal is on the timeline too, between the overlap timer and the compensation.
      await page.locator('svg text').filter({ hasText: /^rollback$/ }).first().waitFor({ timeout: UI_TIMEOUT });
      await page.screenshot({ path: `${ARTIFACTS}rolled-back-history.png`, fullPage: true });
    } finally {
      await page.close();
    }
  });

  it('a rolled-back rotation: the current details name the phase, who asked for the rollback and the approver', async () => {
    const page = await open(rolledBack, 'metadata');
    try {
      const details = currentDetails(page);
      await details.getByText('cli:alice (approve)').waitFor({ timeout: UI_TIMEOUT });
      const text = await details.locator('body').innerText();
      expect(text).toMatch(/^Phase:\s*rolled_back\b/);
      expect(text).toContain('rollback requested by cli:bob: clients report 401s');
      for (const summary of ['Planner → KeyManager: generate ES256 key', 'Orchestrator → KeyManager: compensate, restore', 'Orchestrator → Auditor: record outcome rolled_back']) {
        await metadataRow(page, summary).waitFor({ timeout: UI_TIMEOUT });
      }
      await page.screenshot({ path: `${ARTIFACTS}rolled-back-metadata.png`, fullPage: true });
    } finally {
      await page.close();
    }
  });
});
