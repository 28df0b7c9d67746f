// The dashboard's networks, volumes and admin identity views in a real browser (Debian's
// Chromium driven by Playwright) over a whole cloud on the fake driver with a volume service:
// networks, subnets, routers and floating IPs through the Networking API; volumes attached to
// an instance and detached, snapshots made and deleted; projects and users created, disabled,
// enabled, given a role and deleted through the Identity API. Every action shows its result,
// or the API's refusal, in words.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { IdentityService } from '../src/identity/index.js';
import { itShows, openBrowser, signInWithPassword, type TestBrowser } from './support/browser.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';
import { PASSWORD } from './support/openstack.js';
import { stopWithStorageDaemon } from './support/volumes.js';

interface Node {
  textContent: string | null;
}
declare const document: { querySelectorAll(selector: string): Iterable<Node> };

describe('the dashboard networks, volumes and admin views', needs('chromium', 'qemu-img'), () => {
  let t: TestCloud;
  let b: TestBrowser;
  let url: string;
  let page: Page | undefined;
  const current = () => page;
  const browser = () => b;
  const rowOf = (p: Page, text: string) => p.locator('tr', { hasText: text });
  /** Waits until a table row holding every one of `texts` is on the page. */
  const rowWith = (p: Page, texts: string[], timeout = 30_000) =>
    p.waitForFunction(
      (want) =>
        [...document.querySelectorAll('tr')].some((tr) =>
          want.every((w) => tr.textContent?.includes(w)),
        ),
      texts,
      { timeout },
    );
  const status = (p: Page) => p.getByRole('status').first();

  before(async () => {
    t = await startTestCloud(
      { 'quota-volumes': '10', 'quota-gigabytes': '100' },
      { services: ['network', 'scheduler', 'compute', 'volume', 'api'] },
    );
    url = t.cloud.urls?.dashboard as string;
    const identity = new IdentityService(t.cloud.database.db);
    await identity.setPassword('admin', PASSWORD);
    await identity.createUser({ name: 'nina', password: PASSWORD });
    await identity.createProject({ name: 'nina-project' });
    await identity.grantRole('nina', 'nina-project', 'member');
    await t.addImage({ name: 'cirros' });
    b = await openBrowser();
    page = (await b.newPage()).page;
  });
  after(async () => {
    await b?.close();
    if (t) await stopWithStorageDaemon(t.cloud.config.stateDir, () => t.stop());
  });

  itShows(
    'creates a network with a subnet, and a router with an interface on it',
    browser,
    current,
    async () => {
      const p = page as Page;
      await signInWithPassword(p, url, 'nina', PASSWORD, 'nina-project');
      await p.getByTestId('who').waitFor();
      await p.getByRole('link', { name: 'Networks' }).click();
      await p.getByRole('heading', { name: 'Networks', level: 1 }).waitFor();
      // A refused subnet leaves no network behind, and the API's words are shown.
      await p.getByLabel('Name', { exact: true }).first().fill('broken');
      await p.getByLabel(/Subnet CIDR/).fill('10.9.0.0/99');
      await p.getByRole('button', { name: 'Create network' }).click();
      await p.locator('.result.error').waitFor();
      assert.match((await status(p).textContent()) ?? '', /\S{10,}/);
      await p.getByRole('button', { name: 'Refresh' }).click();
      await p.waitForTimeout(500);
      assert.equal(await p.locator('tr[data-network="broken"]').count(), 0);

      await p.locator('#net-name').fill('blue');
      await p.getByLabel(/Subnet CIDR/).fill('10.9.0.0/24');
      await p.getByRole('button', { name: 'Create network' }).click();
      await p.getByText('Created network blue with subnet 10.9.0.0/24.').waitFor();
      await rowWith(p, ['blue', '10.9.0.0/24']);
      // The launch form offers the project's network (Compute's `networks` takes it).
      await p.getByRole('link', { name: 'Instances' }).click();
      await p.getByRole('button', { name: 'Launch instance' }).click();
      await p.locator('#launch-network option', { hasText: 'blue' }).waitFor({ state: 'attached' });
      await p.getByRole('link', { name: 'Networks' }).click();
      await p.getByRole('heading', { name: 'Networks', level: 1 }).waitFor();

      await p.locator('#router-name').fill('r1');
      await p.getByRole('button', { name: 'Create router' }).click();
      await p.getByText('Created router r1.').waitFor();
      const router = p.locator('article[data-router="r1"]');
      await router.waitFor();
      await router.getByLabel('Subnet').selectOption({ label: 'blue-subnet (10.9.0.0/24)' });
      await router.getByRole('button', { name: 'Add interface to r1' }).click();
      await p.getByText(/Added an interface on blue-subnet to router r1\./).waitFor();
      await router.getByText('blue-subnet (10.9.0.0/24) at 10.9.0.1').waitFor();
      await b.screenshot(p, 'networks');

      // A network with a router on it cannot go: the Networking API says why.
      await rowOf(p, 'blue').getByRole('button', { name: 'Delete network blue' }).click();
      await p.locator('.result.error').waitFor();
      await router.getByRole('button', { name: 'Remove interface' }).click();
      await p.getByText('Removed blue-subnet from router r1.').waitFor();
      await router.getByRole('button', { name: 'Delete router r1' }).click();
      await p.getByText('Deleted router r1.').waitFor();
      await rowOf(p, 'blue').getByRole('button', { name: 'Delete network blue' }).click();
      await p.getByText('Deleted network blue.').waitFor();
    },
  );

  itShows(
    'allocates and releases a floating IP through the Networking API',
    browser,
    current,
    async () => {
      const p = page as Page;
      const allocate = p.getByRole('button', { name: 'Allocate a floating IP' });
      await allocate.click();
      await p.getByText('Allocated a floating IP.').waitFor();
      const release = p.getByRole('button', { name: /^Release / });
      await release.first().waitFor();
      const address = ((await release.first().textContent()) ?? '').replace('Release ', '');
      await release.first().click();
      await p.getByText(`Released ${address}.`).waitFor();
    },
  );

  itShows(
    'attaches a volume to an instance and detaches it, and makes and deletes a snapshot',
    browser,
    current,
    async () => {
      const p = page as Page;
      await p.getByRole('link', { name: 'Instances', exact: true }).click();
      await p.getByRole('button', { name: 'Launch instance' }).click();
      await p.getByLabel('Name', { exact: true }).fill('vm1');
      await p.getByRole('button', { name: 'Launch', exact: true }).click();
      await rowWith(p, ['vm1', 'ACTIVE'], 60_000);

      await p.getByRole('link', { name: 'Volumes' }).click();
      await p.getByLabel('Name', { exact: true }).fill('data1');
      await p.getByRole('button', { name: 'Create', exact: true }).click();
      await p.getByText('Creating volume data1.').waitFor();
      const row = p.locator('tr[data-volume="data1"]');
      await untilStatus(p, row, 'available');
      await row.getByLabel('Instance to attach data1 to').selectOption({ label: 'vm1' });
      await row.getByRole('button', { name: 'Attach data1' }).click();
      await p.getByText('Attaching volume data1 to vm1.').waitFor();
      await untilStatus(p, row, 'in-use');
      await row.getByRole('button', { name: 'Detach data1' }).waitFor();
      await rowWith(p, ['data1', 'vm1']);
      await b.screenshot(p, 'volumes');

      // A volume in use cannot be deleted: the Block Storage API says why.
      await row.getByRole('button', { name: 'Delete data1' }).click();
      await p.locator('.result.error').waitFor();
      assert.match((await status(p).textContent()) ?? '', /\S{10,}/);

      // A snapshot of the attached volume is taken through its storage daemon, then deleted.
      await row.getByRole('button', { name: 'Snapshot data1' }).click();
      await p.getByText('Creating a snapshot of volume data1.').waitFor();
      await p.locator('tr[data-snapshot="data1-snap"]').waitFor();
      const snap = p.locator('tr[data-snapshot="data1-snap"]');
      for (let i = 0; i < 60; i++) {
        if (((await snap.textContent().catch(() => '')) ?? '').includes('available')) break;
        await p.waitForTimeout(500);
        await p.getByRole('button', { name: 'Refresh' }).click();
      }
      assert.match((await snap.textContent()) ?? '', /available/);
      await snap.getByRole('button', { name: 'Delete snapshot data1-snap' }).click();
      await p.getByText('Deleting snapshot data1-snap.').waitFor();

      await row.getByRole('button', { name: 'Detach data1' }).click();
      await p.getByText('Detaching volume data1 from vm1.').waitFor();
      await untilStatus(p, row, 'available');
      await row.getByRole('button', { name: 'Attach data1' }).waitFor();
    },
  );

  itShows(
    'an admin creates a project and a user, grants a role, disables, enables and deletes them',
    browser,
    current,
    async () => {
      const p = (await b.newPage()).page;
      page = p;
      await signInWithPassword(p, url, 'admin', PASSWORD, 'admin');
      await p.getByTestId('who').waitFor();
      await p.getByRole('link', { name: 'Projects and users' }).click();
      await p.getByLabel('Project name').fill('orbit');
      await p.getByRole('button', { name: 'Create project' }).click();
      await p.getByText('Created project orbit.').waitFor();
      await p.locator('tr[data-project="orbit"]').waitFor();

      await p.getByLabel('User name').fill('uma');
      await p.getByLabel('Password').fill(PASSWORD);
      await p.getByLabel('Default project').selectOption({ label: 'orbit' });
      await p.getByRole('button', { name: 'Create user' }).click();
      await p.getByText('Created user uma.').waitFor();
      await rowWith(p, ['uma', 'orbit', 'enabled']);

      // The same name again: the Identity API's refusal, in words.
      await p.getByLabel('Project name').fill('orbit');
      await p.getByRole('button', { name: 'Create project' }).click();
      await p.locator('.result.error').waitFor();
      assert.match((await status(p).textContent()) ?? '', /orbit|exist|conflict/i);

      await p.locator('#grant-user').selectOption({ label: 'uma' });
      await p.locator('#grant-project').selectOption({ label: 'orbit' });
      await p.locator('#grant-role').selectOption({ label: 'member' });
      await p.getByRole('button', { name: 'Grant role' }).click();
      await p.getByText('Granted member on orbit to uma.').waitFor();
      await b.screenshot(p, 'admin-projects');

      // uma signs in to orbit with the role just granted.
      const other = (await b.newPage()).page;
      await signInWithPassword(other, url, 'uma', PASSWORD, 'orbit');
      await other.getByTestId('who').waitFor();
      assert.match((await other.getByTestId('who').textContent()) ?? '', /uma in orbit/);
      await other.context().close();

      const user = p.locator('tr[data-user="uma"]');
      await user.getByRole('button', { name: 'Disable uma' }).click();
      await p.getByText('Disabled user uma.').waitFor();
      await user.getByTestId('user-status').getByText('disabled').waitFor();
      const refused = (await b.newPage()).page;
      await signInWithPassword(refused, url, 'uma', PASSWORD, 'orbit');
      await refused.getByRole('alert').waitFor();
      await refused.context().close();
      await user.getByRole('button', { name: 'Enable uma' }).click();
      await p.getByText('Enabled user uma.').waitFor();
      await user.getByTestId('user-status').getByText('enabled').waitFor();

      const project = p.locator('tr[data-project="orbit"]');
      await project.getByRole('button', { name: 'Disable orbit' }).click();
      await p.getByText('Disabled project orbit.').waitFor();
      await project.getByTestId('project-status').getByText('disabled').waitFor();
      await project.getByRole('button', { name: 'Enable orbit' }).click();
      await p.getByText('Enabled project orbit.').waitFor();

      p.on('dialog', (d) => void d.accept());
      await user.getByRole('button', { name: 'Delete uma' }).click();
      await p.getByText('Deleted user uma.').waitFor();
      await user.waitFor({ state: 'detached' });
      await project.getByRole('button', { name: 'Disable orbit' }).click();
      await p.getByText('Disabled project orbit.').waitFor();
      await project.getByRole('button', { name: 'Delete orbit' }).click();
      await p.getByText('Deleted project orbit.').waitFor();
      await project.waitFor({ state: 'detached' });
    },
  );
});

/** Refreshes the volumes page until the volume's row shows `status` (30 s at most). */
async function untilStatus(p: Page, row: Locator, status: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    await p.getByRole('button', { name: 'Refresh' }).click();
    const shown = await row
      .getByTestId('volume-status')
      .textContent()
      .catch(() => '');
    if (shown === status) return;
    await p.waitForTimeout(500);
  }
}
