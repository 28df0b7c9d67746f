// The dashboard with a real QEMU guest, in Debian's Chromium: launch from the page, watch it
// reach ACTIVE, open the serial console (xterm.js over the WebSocket proxy to the guest's serial
// port), run a command in the guest's shell there, read the console log, and terminate.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import type { Page } from 'playwright-core';
import { loadConfig } from '../src/config/index.js';
import { IdentityService } from '../src/identity/index.js';
import { silentLogger } from '../src/log.js';
import { startCloud, type Cloud } from '../src/main.js';
import { itShows, openBrowser, signInWithPassword, type TestBrowser } from './support/browser.js';
import { needs } from './support/capabilities.js';
import { GUEST_DIR, killLeftoverGuests } from './support/guest.js';
import { PASSWORD } from './support/openstack.js';
import { FREE_PORTS } from './support/ports.js';

// The page's globals, as the functions Playwright runs in the browser see them.
declare const document: {
  querySelector(selector: string): { textContent: string | null } | null;
};

/** Minutes, not seconds: guests boot under TCG on a loaded machine. */
const BOOT_MS = 6 * 60_000;

describe(
  'the dashboard with a real guest',
  needs('chromium', 'qemu', 'qemu-img', 'guest-image'),
  () => {
    let cloud: Cloud;
    let stateDir: string;
    let b: TestBrowser;
    let page: Page | undefined;
    const current = () => page;
    const browser = () => b;

    before(async () => {
      stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sq-dash-'));
      const config = loadConfig({
        env: {},
        flags: {
          'state-dir': stateDir,
          virt: 'qemu',
          'data-plane': 'user',
          ...FREE_PORTS,
          'log-level': 'warn',
          'power-sync-seconds': '1',
          'guest-image-dir': GUEST_DIR,
        },
      });
      cloud = await startCloud(config, ['network', 'scheduler', 'compute', 'api'], {
        bootstrap: true,
        logger: silentLogger(),
      });
      await new IdentityService(cloud.database.db).setPassword('admin', PASSWORD);
      b = await openBrowser();
      page = (await b.newPage()).page;
    });

    after(async () => {
      await b?.close();
      await cloud?.stop();
      // Whatever a failed step left running is ended by its pid.
      killLeftoverGuests(stateDir);
      fs.rmSync(stateDir, { recursive: true, force: true });
    });

    const terminalHas = (p: Page, text: string, timeout: number) =>
      p.waitForFunction(
        (t) => document.querySelector('.xterm-rows')?.textContent?.includes(t) ?? false,
        text,
        { timeout },
      );

    itShows(
      'launches the guest from the page and shows it reach ACTIVE',
      browser,
      current,
      async () => {
        const p = page as Page;
        await signInWithPassword(p, cloud.urls?.dashboard as string, 'admin', PASSWORD, 'admin');
        await p.getByRole('link', { name: 'Instances', exact: true }).click();
        await p.getByRole('button', { name: 'Launch instance' }).click();
        await p.getByLabel('Name', { exact: true }).fill('real1');
        await p.getByLabel('Image').selectOption({ label: 'stratus-guest' });
        await p.getByLabel('Flavor').selectOption('1');
        await p.getByRole('button', { name: 'Launch', exact: true }).click();
        await p.getByText('Launching instance real1.').waitFor();
        await p.waitForFunction(
          () =>
            [
              ...(
                document as unknown as {
                  querySelectorAll(s: string): Iterable<{ textContent: string | null }>;
                }
              ).querySelectorAll('tr'),
            ].some((tr) => tr.textContent?.includes('real1') && tr.textContent.includes('ACTIVE')),
          undefined,
          { timeout: BOOT_MS },
        );
      },
    );

    itShows(
      'logs in on the serial console in the page and runs a command in the guest',
      browser,
      current,
      async () => {
        const p = page as Page;
        await p.getByRole('link', { name: 'real1' }).click();
        // The guest prints this on its serial port once booted; the console log has it too.
        const start = Date.now();
        for (;;) {
          await p.getByRole('button', { name: 'Console log' }).click();
          await p.getByTestId('console-log').waitFor();
          if (
            ((await p.getByTestId('console-log').textContent()) ?? '').includes(
              'Stratus guest ready',
            )
          )
            break;
          assert.ok(Date.now() - start < BOOT_MS, 'the guest did not finish booting');
          await p.waitForTimeout(3000);
        }
        await p.getByRole('button', { name: 'Serial console' }).click();
        await p.getByText('Connected to the serial console of real1.').waitFor();
        // The page sends a carriage return on connecting: the guest's shell answers with a prompt.
        await terminalHas(p, '#', 120_000);
        await p.locator('.xterm-screen').click();
        await p.keyboard.type('echo sum=$((6*7)); uname -s');
        await p.keyboard.press('Enter');
        await terminalHas(p, 'sum=42', 120_000);
        await terminalHas(p, 'Linux', 60_000);
        await b.screenshot(p, 'serial-console-qemu');
        await p.getByRole('button', { name: 'Close serial console' }).click();
        // What was typed went through the guest's serial port, so the console log has it too.
        await p.getByRole('button', { name: 'Console log' }).click();
        await p.waitForFunction(
          () =>
            document
              .querySelector('[data-testid="console-log"]')
              ?.textContent?.includes('sum=42') ?? false,
          undefined,
          { timeout: 60_000 },
        );
      },
    );

    itShows('terminates the guest from the page', browser, current, async () => {
      const p = page as Page;
      p.once('dialog', (d) => void d.accept());
      await p.getByRole('button', { name: 'Terminate' }).click();
      await p.getByText('Terminating real1.').waitFor();
      await p.getByRole('link', { name: 'Instances', exact: true }).click();
      await p.getByText('No instances yet.').waitFor({ timeout: BOOT_MS });
    });
  },
);
