// The dashboard in a real browser (Debian's Chromium driven by Playwright) over a whole cloud on
// the fake driver: sign in, launch, watch the state change live, console log, floating IP,
// image upload with progress, key pair download, terminate; a guest named like a script shows
// as text; a member sees only its project; the admin's host and service views.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import type { Page } from 'playwright-core';
import { IdentityService } from '../src/identity/index.js';
import { needs } from './support/capabilities.js';
import { itShows, openBrowser, signInWithPassword, type TestBrowser } from './support/browser.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { PASSWORD } from './support/openstack.js';

// The page's globals, as the functions Playwright runs in the browser see them.
interface Node {
  textContent: string | null;
}
declare const document: {
  querySelector(selector: string): Node | null;
  querySelectorAll(selector: string): Iterable<Node>;
  body: Node;
  documentElement: { scrollWidth: number };
};
declare const window: Record<string, unknown>;

const XSS_NAME = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';

describe('the dashboard in a browser', needs('chromium'), () => {
  let t: TestCloud;
  let b: TestBrowser;
  let url: string;
  let page: Page | undefined;
  let member: Page | undefined;
  let other: Page | undefined;
  let admin: Page | undefined;
  const current = () => page;
  const browser = () => b;

  before(async () => {
    t = await startTestCloud({ 'quota-instances': '20' });
    url = t.cloud.urls?.dashboard as string;
    const identity = new IdentityService(t.cloud.database.db);
    await identity.setPassword('admin', PASSWORD);
    for (const who of ['dora', 'eve']) {
      await identity.createUser({ name: who, password: PASSWORD });
      await identity.createProject({ name: `${who}-project` });
      await identity.grantRole(who, `${who}-project`, 'member');
    }
    await t.addImage({ name: 'cirros' });
    b = await openBrowser();
    member = (await b.newPage()).page;
    page = member;
  });
  after(async () => {
    await b?.close();
    await t?.stop();
  });

  const rowOf = (p: Page, name: string) => p.locator('tr', { hasText: name });

  itShows('refuses a wrong password with the message in words', browser, current, async () => {
    const p = member as Page;
    await signInWithPassword(p, url, 'dora', 'not the password', 'dora-project');
    const alert = p.getByRole('alert');
    await alert.waitFor();
    assert.ok(((await alert.textContent()) ?? '').length > 10);
  });

  itShows('signs in and shows the overview with quota bars', browser, current, async () => {
    const p = member as Page;
    await signInWithPassword(p, url, 'dora', PASSWORD, 'dora-project');
    await p.getByTestId('who').waitFor();
    assert.match((await p.getByTestId('who').textContent()) ?? '', /dora in dora-project/);
    await p.getByRole('meter', { name: 'Instances' }).waitFor();
    assert.equal(
      await p.getByRole('meter', { name: 'Instances' }).getAttribute('aria-valuemax'),
      '20',
    );
    // No admin links for a member.
    assert.equal(await p.getByRole('link', { name: 'Hosts' }).count(), 0);
    await b.screenshot(p, 'overview');
  });

  itShows(
    'launches an instance from the form and shows it reach ACTIVE without a reload',
    browser,
    current,
    async () => {
      const p = member as Page;
      await p.getByRole('link', { name: 'Instances', exact: true }).click();
      await p.getByRole('button', { name: 'Launch instance' }).click();
      await p.getByLabel('Name', { exact: true }).fill('web1');
      await p.getByRole('button', { name: 'Launch', exact: true }).click();
      await p.getByText('Launching instance web1.').waitFor();
      const state = rowOf(p, 'web1').getByTestId('state');
      await state.waitFor();
      await p.waitForFunction(
        () =>
          [...document.querySelectorAll('tr')].some(
            (tr) => tr.textContent?.includes('web1') && tr.textContent.includes('ACTIVE'),
          ),
        undefined,
        { timeout: 60_000 },
      );
      await b.screenshot(p, 'instances');
    },
  );

  itShows(
    'shows the API validation message when a launch is refused',
    browser,
    current,
    async () => {
      const p = member as Page;
      await p.getByLabel('Count').fill('500');
      await p.getByRole('button', { name: 'Launch', exact: true }).click();
      const message = p.locator('form[aria-label="Launch instance"] .result.error');
      await message.waitFor();
      assert.match((await message.textContent()) ?? '', /quota|exceed|instances/i);
    },
  );

  itShows(
    'renders a guest named like a script as text, in the list and its console log',
    browser,
    current,
    async () => {
      const p = member as Page;
      await p.getByLabel('Name', { exact: true }).fill(XSS_NAME);
      await p.getByLabel('Count').fill('1');
      await p.getByRole('button', { name: 'Launch', exact: true }).click();
      const link = p.getByRole('link', { name: XSS_NAME });
      await link.waitFor();
      await link.click();
      await p.getByRole('button', { name: 'Console log' }).click();
      await p.getByTestId('console-log').waitFor();
      assert.equal(await p.locator('#page-title').textContent(), `Instance ${XSS_NAME}`);
      assert.equal(await p.evaluate(() => window.__pwned), undefined);
      assert.equal(await p.locator('main script, main img').count(), 0);
    },
  );

  itShows(
    'reads the console log, associates and releases a floating IP, and stops and starts',
    browser,
    current,
    async () => {
      const p = member as Page;
      await p.getByRole('link', { name: 'Instances', exact: true }).click();
      await p.getByRole('link', { name: 'web1' }).click();
      await p.getByRole('button', { name: 'Console log' }).click();
      await p.getByTestId('console-log').waitFor();
      assert.match((await p.getByTestId('console-log').textContent()) ?? '', /Stratus fake guest /);
      await p.getByRole('button', { name: 'Associate' }).click();
      const release = p.getByRole('button', { name: /^Release / });
      await release.waitFor();
      const ip = ((await release.textContent()) ?? '').replace('Release ', '').trim();
      assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
      await p.waitForFunction(
        (a) => document.querySelector('main dl')?.textContent?.includes(a) ?? false,
        ip,
        { timeout: 30_000 },
      );
      await b.screenshot(p, 'instance');
      await release.click();
      await p.getByText(`Released ${ip} from web1.`).waitFor();
      await p.getByRole('button', { name: 'Stop' }).click();
      await p.waitForFunction(
        () => document.querySelector('[data-testid="detail-state"]')?.textContent === 'SHUTOFF',
        undefined,
        { timeout: 60_000 },
      );
      await p.getByRole('button', { name: 'Start' }).click();
      await p.waitForFunction(
        () => document.querySelector('[data-testid="detail-state"]')?.textContent === 'ACTIVE',
        undefined,
        { timeout: 60_000 },
      );
    },
  );

  itShows('types into the serial console and sees the guest answer', browser, current, async () => {
    const p = member as Page;
    await p.getByRole('button', { name: 'Serial console' }).click();
    await p.getByText('Connected to the serial console of web1.').waitFor();
    await p.locator('.xterm-screen').click();
    await p.keyboard.type('hello serial');
    await p.keyboard.press('Enter');
    await p.waitForFunction(
      () => document.querySelector('.xterm-rows')?.textContent?.includes('hello serial') ?? false,
      undefined,
      { timeout: 30_000 },
    );
    await b.screenshot(p, 'serial-console-fake');
    await p.getByRole('button', { name: 'Close serial console' }).click();
  });

  itShows(
    'uploads an image with a progress bar that reaches 100%, then deletes it',
    browser,
    current,
    async () => {
      const p = member as Page;
      const file = path.join(b.dir, 'disk.raw');
      fs.writeFileSync(file, Buffer.alloc(8 * 1024 * 1024, 1));
      await p.getByRole('link', { name: 'Images' }).click();
      await p.getByLabel('Name', { exact: true }).fill('uploaded');
      await p.getByLabel('Disk format').selectOption('raw');
      await p.getByLabel('File').setInputFiles(file);
      await p.getByRole('button', { name: 'Upload' }).click();
      await p.getByText('Uploaded image uploaded.').waitFor({ timeout: 120_000 });
      assert.equal(await p.locator('#upload-progress').getAttribute('value'), '100');
      const row = rowOf(p, 'uploaded');
      await row.waitFor();
      assert.match((await row.textContent()) ?? '', /active/);
      await b.screenshot(p, 'images');
      p.once('dialog', (d) => void d.accept());
      await row.getByRole('button', { name: 'Delete' }).click();
      await p.getByText('Deleted image uploaded.').waitFor();
      await waitUntil(async () => (await rowOf(p, 'uploaded').count()) === 0, 10_000, 'image gone');
    },
  );

  itShows('creates a key pair whose private key downloads once', browser, current, async () => {
    const p = member as Page;
    await p.getByRole('link', { name: 'Key pairs' }).click();
    await p.getByLabel('Name').fill('laptop');
    await p.getByRole('button', { name: 'Save key pair' }).click();
    const link = p.getByRole('link', { name: 'Download the private key of laptop' });
    await link.waitFor();
    const [download] = await Promise.all([p.waitForEvent('download'), link.click()]);
    const saved = path.join(b.dir, 'laptop.pem');
    await download.saveAs(saved);
    assert.match(fs.readFileSync(saved, 'utf8'), /PRIVATE KEY/);
    await link.waitFor({ state: 'detached' });
    await rowOf(p, 'laptop').waitFor();
  });

  itShows('refuses a request forged by a page of another origin', browser, current, async () => {
    const p = member as Page;
    // Another port of the same host is the same site, so the session cookie goes along: only
    // the Origin check and the CSRF token stand in the way.
    const evil = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(
        `<form id="f" method="POST" action="${url}api/compute/os-keypairs" enctype="text/plain">` +
          `<input name='{"keypair":{"name":"forged","x":"' value='"}}'></form>` +
          `<script>fetch(${JSON.stringify(`${url}api/compute/os-keypairs`)}, {method: 'POST', mode: 'no-cors', credentials: 'include', body: '{"keypair":{"name":"forged2"}}'}).finally(() => document.getElementById('f').submit());</script>`,
      );
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    try {
      const port = (evil.address() as { port: number }).port;
      await p.goto(`http://127.0.0.1:${port}/`);
      await p.waitForURL(/api\/compute\/os-keypairs/);
      assert.match((await p.textContent('body')) ?? '', /Cross-site request refused/);
    } finally {
      await new Promise((r) => evil.close(r));
    }
    await p.goto(url);
    await p.getByRole('link', { name: 'Key pairs' }).click();
    await rowOf(p, 'laptop').waitFor();
    assert.equal(await p.getByText('forged').count(), 0);
  });

  itShows('terminates an instance and it leaves the list', browser, current, async () => {
    const p = member as Page;
    await p.getByRole('link', { name: 'Instances', exact: true }).click();
    await p.getByRole('link', { name: XSS_NAME }).click();
    p.once('dialog', (d) => void d.accept());
    await p.getByRole('button', { name: 'Terminate' }).click();
    await p.getByRole('link', { name: 'Instances', exact: true }).click();
    await p.waitForFunction(() => !document.body.textContent?.includes('__pwned'), undefined, {
      timeout: 60_000,
    });
  });

  itShows(
    'shows a member only its own project',
    browser,
    () => other,
    async () => {
      other = (await b.newPage()).page;
      await signInWithPassword(other, url, 'eve', PASSWORD, 'eve-project');
      await other.getByRole('link', { name: 'Instances', exact: true }).click();
      await other.getByText('No instances yet.').waitFor();
      assert.equal(await other.getByText('web1').count(), 0);
      await other.goto(`${url}#/admin/hosts`);
      await other.getByText('This view is for administrators.').waitFor();
    },
  );

  itShows(
    'shows the admin hosts with capacity, state and their guests',
    browser,
    () => admin,
    async () => {
      admin = (await b.newPage()).page;
      await signInWithPassword(admin, url, 'admin', PASSWORD, 'admin');
      await admin.getByRole('link', { name: 'Hosts' }).click();
      const host = admin.locator('article.host').first();
      await host.waitFor();
      assert.equal(await host.getByTestId('host-state').textContent(), 'up');
      await host.getByRole('meter', { name: 'vCPUs' }).waitFor();
      await host.getByRole('link', { name: 'web1' }).waitFor();
      await b.screenshot(admin, 'admin-hosts');
    },
  );

  itShows(
    'disables and enables a compute service from the admin view',
    browser,
    () => admin,
    async () => {
      const p = admin as Page;
      await p.getByRole('link', { name: 'Services' }).click();
      const disable = p.getByRole('button', { name: /^Disable (nova-)?compute on / });
      await disable.waitFor();
      await disable.click();
      const row = p.locator('tr[data-service*="compute@"]');
      await p.waitForFunction(
        () =>
          document
            .querySelector('tr[data-service*="compute@"] [data-testid="service-status"]')
            ?.textContent?.startsWith('disabled') ?? false,
      );
      await b.screenshot(p, 'admin-services');
      await row.getByRole('button', { name: /^Enable (nova-)?compute on / }).click();
      await p.waitForFunction(
        () =>
          document.querySelector('tr[data-service*="compute@"] [data-testid="service-status"]')
            ?.textContent === 'enabled',
      );
    },
  );

  itShows(
    'lists every project instances for the admin, filtered by name',
    browser,
    () => admin,
    async () => {
      const p = admin as Page;
      await p.getByRole('link', { name: 'All instances' }).click();
      await rowOf(p, 'web1').waitFor();
      await p
        .locator('form[aria-label="Filter instances"] input[name="name"]')
        .fill('nothing-matches');
      await p.getByRole('button', { name: 'Filter' }).click();
      await waitUntil(async () => (await rowOf(p, 'web1').count()) === 0, 10_000, 'filtered');
    },
  );

  itShows(
    'works at a phone width with the menu behind a button',
    browser,
    () => member,
    async () => {
      const { page: phone } = await b.newPage({ mobile: true });
      member = phone;
      await signInWithPassword(phone, url, 'dora', PASSWORD, 'dora-project');
      const menu = phone.getByRole('button', { name: 'Menu' });
      await menu.waitFor();
      assert.equal(await phone.getByRole('link', { name: 'Images' }).isVisible(), false);
      await menu.click();
      await phone.getByRole('link', { name: 'Images' }).click();
      await phone.getByRole('heading', { name: 'Images' }).waitFor();
      const width = await phone.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 400, `the page is ${width}px wide at a 390px viewport`);
      await b.screenshot(phone, 'phone-images');
    },
  );
});
