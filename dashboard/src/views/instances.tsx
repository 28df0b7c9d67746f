// Instances: the live list, the launch form, and one instance's actions and console log.
import { useState } from 'preact/hooks';
import { call, compute, computeNew } from '../api.js';
import type {
  Flavor,
  FloatingIp,
  Image,
  Keypair,
  Network,
  SecurityGroup,
  Server,
} from '../types.js';
import { SerialConsole } from './serial-console.js';
import { Result, addressesOf, age, LoadError, Page, useAction, useLoad } from './common.js';

const action = (id: string, body: object) =>
  compute(`servers/${encodeURIComponent(id)}/action`, { method: 'POST', body });

export function stateText(s: Server): string {
  const task = s['OS-EXT-STS:task_state'];
  return task ? `${s.status} (${task})` : s.status;
}

export function ServerTable({
  servers,
  showProject,
}: {
  servers: Server[];
  showProject?: boolean;
}) {
  return (
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">Instances</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">State</th>
            <th scope="col">Addresses</th>
            <th scope="col">Host</th>
            <th scope="col">Zone</th>
            <th scope="col">Age</th>
            {showProject && <th scope="col">Project</th>}
          </tr>
        </thead>
        <tbody>
          {servers.map((s) => (
            <tr key={s.id} data-instance={s.id}>
              <td>
                <a href={`#/instances/${encodeURIComponent(s.id)}`}>{s.name || s.id}</a>
              </td>
              <td data-testid="state">{stateText(s)}</td>
              <td>{addressesOf(s.addresses)}</td>
              <td>{s['OS-EXT-SRV-ATTR:host'] ?? '—'}</td>
              <td>{s['OS-EXT-AZ:availability_zone'] ?? ''}</td>
              <td>{age(s.created)}</td>
              {showProject && <td>{s.tenant_id}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Instances({ servers }: { servers: Server[] | undefined }) {
  const [launching, setLaunching] = useState(false);
  return (
    <Page title="Instances">
      <p>
        <button type="button" aria-expanded={launching} onClick={() => setLaunching(!launching)}>
          Launch instance
        </button>
      </p>
      {launching && <LaunchForm />}
      {servers === undefined ? (
        <p>Loading…</p>
      ) : servers.length === 0 ? (
        <p>No instances yet.</p>
      ) : (
        <ServerTable servers={servers} />
      )}
    </Page>
  );
}

function utf8Base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function LaunchForm() {
  const choices = useLoad(async () => {
    const [images, flavors, keypairs, groups, networks] = await Promise.all([
      call<{ images: Image[] }>('image/v2/images'),
      compute<{ flavors: Flavor[] }>('flavors/detail'),
      compute<{ keypairs: { keypair: Keypair }[] }>('os-keypairs'),
      compute<{ security_groups: SecurityGroup[] }>('os-security-groups'),
      // The project's own networks (a cloud without a Networking API has none to offer).
      call<{ networks: Network[] }>('network/v2.0/networks').catch(() => ({ networks: [] })),
    ]);
    return {
      images: images.images.filter((i) => i.status === 'active'),
      flavors: flavors.flavors,
      keypairs: keypairs.keypairs.map((k) => k.keypair),
      groups: groups.security_groups,
      networks: networks.networks.filter((n) => !n.shared && !n['router:external']),
    };
  });
  const [outcome, act, busy] = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const get = (k: string) => String(f.get(k) ?? '');
    const count = Number(get('count') || '1');
    const userData = get('user_data');
    const server: Record<string, unknown> = {
      name: get('name'),
      imageRef: get('image'),
      flavorRef: get('flavor'),
      // A project network by its id, or `auto`/`none`, as the Compute API takes them.
      networks: get('network').startsWith('uuid:')
        ? [{ uuid: get('network').slice('uuid:'.length) }]
        : get('network'),
      min_count: count,
      max_count: count,
      security_groups: f.getAll('groups').map((g) => ({ name: String(g) })),
    };
    if (get('key_name')) server.key_name = get('key_name');
    if (userData) server.user_data = utf8Base64(userData);
    if ((server.security_groups as unknown[]).length === 0) delete server.security_groups;
    void act(`Launching ${count === 1 ? `instance ${get('name')}` : `${count} instances`}.`, () =>
      computeNew('servers', { method: 'POST', body: { server } }),
    );
  };
  const c = choices.data;
  return (
    <form class="card" onSubmit={submit} aria-label="Launch instance">
      <h2>Launch instance</h2>
      <LoadError error={choices.error} />
      <label for="launch-name">Name</label>
      <input id="launch-name" name="name" />
      <label for="launch-image">Image</label>
      <select id="launch-image" name="image">
        {c?.images.map((i) => (
          <option key={i.id} value={i.id}>
            {i.name ?? i.id}
          </option>
        ))}
      </select>
      <label for="launch-flavor">Flavor</label>
      <select id="launch-flavor" name="flavor">
        {c?.flavors.map((fl) => (
          <option key={fl.id} value={fl.id}>
            {fl.name} ({fl.vcpus} vCPU, {fl.ram} MiB, {fl.disk} GB)
          </option>
        ))}
      </select>
      <label for="launch-key">Key pair</label>
      <select id="launch-key" name="key_name">
        <option value="">None</option>
        {c?.keypairs.map((k) => (
          <option key={k.name} value={k.name}>
            {k.name}
          </option>
        ))}
      </select>
      <fieldset>
        <legend>Security groups</legend>
        {c?.groups.map((g) => (
          <label class="inline" key={g.id}>
            <input
              type="checkbox"
              name="groups"
              value={g.name}
              defaultChecked={g.name === 'default'}
            />
            {g.name}
          </label>
        ))}
      </fieldset>
      <label for="launch-network">Network</label>
      <select id="launch-network" name="network">
        <option value="auto">The cloud's network</option>
        {c?.networks.map((n) => (
          <option key={n.id} value={`uuid:${n.id}`}>
            {n.name || n.id}
          </option>
        ))}
        <option value="none">No network</option>
      </select>
      <label for="launch-count">Count</label>
      <input id="launch-count" name="count" type="number" min={1} value="1" />
      <label for="launch-user-data">User data</label>
      <textarea id="launch-user-data" name="user_data" rows={3} />
      <button type="submit" disabled={busy}>
        Launch
      </button>
      <Result outcome={outcome} />
    </form>
  );
}

export function InstanceDetail({ id, servers }: { id: string; servers: Server[] | undefined }) {
  const fromStream = servers?.find((s) => s.id === id);
  const fetched = useLoad(
    () => computeNew<{ server: Server }>(`servers/${encodeURIComponent(id)}`),
    [id],
  );
  const server = fromStream ?? fetched.data?.server;
  const [outcome, act, busy] = useAction();
  const [log, setLog] = useState<string | undefined>(undefined);
  const [serial, setSerial] = useState(false);
  const floating = useLoad(() => compute<{ floating_ips: FloatingIp[] }>('os-floating-ips'));
  if (!server) {
    return (
      <Page title="Instance">
        <LoadError error={fetched.error} />
        {!fetched.error && <p>Loading…</p>}
      </Page>
    );
  }
  const mine = floating.data?.floating_ips.filter((f) => f.instance_id === id) ?? [];
  const free = floating.data?.floating_ips.filter((f) => !f.instance_id) ?? [];
  const name = server.name || server.id;
  const readLog = () =>
    act('Console log read.', async () => {
      const r = await action(id, { 'os-getConsoleOutput': { length: 200 } });
      setLog((r as { output: string }).output);
    });
  return (
    <Page title={`Instance ${name}`}>
      <dl class="details">
        <dt>ID</dt>
        <dd>{server.id}</dd>
        <dt>State</dt>
        <dd data-testid="detail-state">{stateText(server)}</dd>
        <dt>Addresses</dt>
        <dd>{addressesOf(server.addresses)}</dd>
        <dt>Host</dt>
        <dd>{server['OS-EXT-SRV-ATTR:host'] ?? '—'}</dd>
        <dt>Zone</dt>
        <dd>{server['OS-EXT-AZ:availability_zone'] ?? ''}</dd>
        <dt>Flavor</dt>
        <dd>{server.flavor.original_name ?? server.flavor.id}</dd>
        <dt>Key pair</dt>
        <dd>{server.key_name ?? '—'}</dd>
        <dt>Age</dt>
        <dd>{age(server.created)}</dd>
      </dl>
      <div class="actions" role="group" aria-label="Instance actions">
        <button
          type="button"
          disabled={busy}
          onClick={() => act(`Stopping ${name}.`, () => action(id, { 'os-stop': null }))}
        >
          Stop
        </button>
        <button
          type="button"
          disabled={busy}
          onClick={() => act(`Starting ${name}.`, () => action(id, { 'os-start': null }))}
        >
          Start
        </button>
        <button
          type="button"
          disabled={busy}
          onClick={() => act(`Rebooting ${name}.`, () => action(id, { reboot: { type: 'SOFT' } }))}
        >
          Reboot
        </button>
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={() => {
            if (confirm(`Terminate ${name}?`)) {
              void act(`Terminating ${name}.`, () =>
                compute(`servers/${encodeURIComponent(id)}`, { method: 'DELETE' }),
              );
            }
          }}
        >
          Terminate
        </button>
        <button type="button" disabled={busy} onClick={readLog}>
          Console log
        </button>
        <button type="button" aria-expanded={serial} onClick={() => setSerial(!serial)}>
          {serial ? 'Close serial console' : 'Serial console'}
        </button>
      </div>
      <Result outcome={outcome} />
      {serial && (
        <>
          <h2>Serial console</h2>
          <SerialConsole id={id} name={name} />
        </>
      )}
      <h2>Floating IPs</h2>
      {mine.map((f) => (
        <p key={f.id}>
          {f.ip}{' '}
          <button
            type="button"
            disabled={busy}
            onClick={() =>
              act(
                `Released ${f.ip} from ${name}.`,
                () => action(id, { removeFloatingIp: { address: f.ip } }),
                floating.reload,
              )
            }
          >
            Release {f.ip}
          </button>
        </p>
      ))}
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          const value = String(new FormData(e.currentTarget as HTMLFormElement).get('fip') ?? '');
          void act(
            value === 'new'
              ? `Associated a new floating IP with ${name}.`
              : `Associated ${value} with ${name}.`,
            async () => {
              let address = value;
              if (value === 'new') {
                const r = await compute<{ floating_ip: FloatingIp }>('os-floating-ips', {
                  method: 'POST',
                  body: {},
                });
                address = r.floating_ip.ip;
              }
              await action(id, { addFloatingIp: { address } });
            },
            floating.reload,
          );
        }}
      >
        <label for="fip">Associate a floating IP</label>
        <select id="fip" name="fip">
          <option value="new">Allocate a new one</option>
          {free.map((f) => (
            <option key={f.id} value={f.ip}>
              {f.ip}
            </option>
          ))}
        </select>
        <button type="submit" disabled={busy}>
          Associate
        </button>
      </form>
      {log !== undefined && (
        <>
          <h2>Console log</h2>
          <pre class="console" data-testid="console-log" tabIndex={0}>
            {log}
          </pre>
        </>
      )}
    </Page>
  );
}
