// Test support: Debian's Chromium driven by Playwright (playwright-core cannot download its own
// browsers here), with a screenshot saved under the test's temp dir when a step fails.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Flags that keep Chromium quiet on a machine without a network (see HOST-FACTS.md). */
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  browser: Browser;
  /** Where screenshots and downloads go. */
  dir: string;
  /** A new context (its own cookies) and page; `mobile` is a phone-sized viewport. */
  newPage(options?: { mobile?: boolean }): Promise<{ context: BrowserContext; page: Page }>;
  /** Saves a screenshot of `page` as NAME.png in `dir`; returns its path. */
  screenshot(page: Page, name: string): Promise<string>;
  /** Marks the run failed: `close` keeps `dir` (its screenshots) for whoever reads the failure. */
  keep(): void;
  /** Ends the browser; removes `dir` unless a step failed (or STRATUS_KEEP_SCREENSHOTS is set). */
  close(): Promise<void>;
}

export async function openBrowser(): Promise<TestBrowser> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-dashboard-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    timeout: 120_000,
  });
  let keep = Boolean(process.env.STRATUS_KEEP_SCREENSHOTS);
  return {
    browser,
    dir,
    keep() {
      keep = true;
    },
    async newPage(options = {}) {
      const context = await browser.newContext({
        viewport: options.mobile ? { width: 390, height: 844 } : { width: 1280, height: 860 },
        acceptDownloads: true,
        ...(options.mobile ? { isMobile: true, hasTouch: true } : {}),
      });
      context.setDefaultTimeout(60_000);
      return { context, page: await context.newPage() };
    },
    async screenshot(page, name) {
      const file = path.join(dir, `${name.replace(/[^a-z0-9-]+/gi, '-')}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await browser.close();
      if (keep) console.error(`dashboard screenshots: ${dir}`);
      else fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `it`, but a failing step leaves a screenshot of the page it names (path printed) for whoever
 * reads the failure.
 */
export function itShows(
  name: string,
  b: () => TestBrowser,
  page: () => Page | undefined,
  fn: () => Promise<void>,
): void {
  it(name, async () => {
    try {
      await fn();
    } catch (err) {
      const p = page();
      b().keep();
      if (p && !p.isClosed()) {
        const file = await b()
          .screenshot(p, `failed-${name}`)
          .catch(() => undefined);
        if (file) console.error(`screenshot of the failed step "${name}": ${file}`);
      }
      throw err;
    }
  });
}

/** Signs in through the form with a password. */
export async function signInWithPassword(
  page: Page,
  url: string,
  user: string,
  password: string,
  project: string,
): Promise<void> {
  await page.goto(url);
  await page.locator('#username').fill(user);
  await page.locator('#password').fill(password);
  await page.locator('#project').fill(project);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
