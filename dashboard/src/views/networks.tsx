// Networks: the project's networks and subnets, its routers (gateway and interfaces), and
// floating IPs, through the Networking API with the user's token.
import { useState } from 'preact/hooks';
import { call } from '../api.js';
import type { NetFloatingIp, Network, Port, Router, Subnet } from '../types.js';
import { LoadError, Page, Result, useAction, useLoad } from './common.js';

const net = <T,>(path: string, options: Parameters<typeof call>[1] = {}) =>
  call<T>(`network/v2.0/${path}`, options);

interface NetworkData {
  networks: Network[];
  subnets: Subnet[];
  routers: Router[];
  ports: Port[];
  floatingips: NetFloatingIp[];
}

async function loadAll(): Promise<NetworkData> {
  const [n, s, r, p, f] = await Promise.all([
    net<{ networks: Network[] }>('networks'),
    net<{ subnets: Subnet[] }>('subnets'),
    net<{ routers: Router[] }>('routers'),
    net<{ ports: Port[] }>('ports'),
    net<{ floatingips: NetFloatingIp[] }>('floatingips'),
  ]);
  return {
    networks: n.networks,
    subnets: s.subnets,
    routers: r.routers,
    ports: p.ports,
    floatingips: f.floatingips,
  };
}

export function Networks() {
  const data = useLoad(loadAll);
  const [outcome, act, busy] = useAction();
  const d = data.data;
  const external = d?.networks.filter((n) => n['router:external']) ?? [];
  const subnetsOf = (n: Network) => d?.subnets.filter((s) => s.network_id === n.id) ?? [];
  const networkName = (id: string) => {
    const n = d?.networks.find((x) => x.id === id);
    return n ? n.name || n.id : id;
  };
  const subnetLabel = (s: Subnet) => `${s.name || s.id} (${s.cidr})`;

  const createNetwork = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const name = String(f.get('name') ?? '').trim();
    const cidr = String(f.get('cidr') ?? '').trim();
    void act(
      cidr ? `Created network ${name} with subnet ${cidr}.` : `Created network ${name}.`,
      async () => {
        const made = await net<{ network: Network }>('networks', {
          method: 'POST',
          body: { network: { name } },
        });
        if (!cidr) return;
        try {
          await net('subnets', {
            method: 'POST',
            body: {
              subnet: {
                network_id: made.network.id,
                name: `${name}-subnet`,
                cidr,
                ip_version: 4,
              },
            },
          });
        } catch (err) {
          // Nothing half-made: the network goes when its subnet is refused.
          await net(`networks/${made.network.id}`, { method: 'DELETE' }).catch(() => undefined);
          throw err;
        }
      },
      () => {
        form.reset();
        data.reload();
      },
    );
  };

  const createRouter = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const name = String(f.get('name') ?? '').trim();
    const gateway = String(f.get('gateway') ?? '');
    void act(
      `Created router ${name}.`,
      () =>
        net('routers', {
          method: 'POST',
          body: {
            router: {
              name,
              ...(gateway ? { external_gateway_info: { network_id: gateway } } : {}),
            },
          },
        }),
      () => {
        form.reset();
        data.reload();
      },
    );
  };

  return (
    <Page title="Networks">
      <LoadError error={data.error} />
      <div class="cards">
        <form class="card" onSubmit={createNetwork} aria-label="Create network">
          <h2>Create a network</h2>
          <label for="net-name">Name</label>
          <input id="net-name" name="name" required />
          <label for="net-cidr">Subnet CIDR (optional, e.g. 10.1.0.0/24)</label>
          <input id="net-cidr" name="cidr" />
          <button type="submit" disabled={busy}>
            Create network
          </button>
        </form>
        <form class="card" onSubmit={createRouter} aria-label="Create router">
          <h2>Create a router</h2>
          <label for="router-name">Name</label>
          <input id="router-name" name="name" required />
          <label for="router-gateway">External gateway</label>
          <select id="router-gateway" name="gateway">
            <option value="">None</option>
            {external.map((n) => (
              <option key={n.id} value={n.id}>
                {n.name || n.id}
              </option>
            ))}
          </select>
          <button type="submit" disabled={busy}>
            Create router
          </button>
        </form>
      </div>
      <Result outcome={outcome} />
      <p>
        <button type="button" onClick={data.reload}>
          Refresh
        </button>
      </p>

      <h2>Networks and subnets</h2>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Networks</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Subnets</th>
              <th scope="col">Status</th>
              <th scope="col">Kind</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {d?.networks.map((n) => (
              <tr key={n.id} data-network={n.name}>
                <td>{n.name || n.id}</td>
                <td>{subnetsOf(n).map(subnetLabel).join(', ') || '—'}</td>
                <td>{n.status}</td>
                <td>{n['router:external'] ? 'external' : n.shared ? 'shared' : 'project'}</td>
                <td>
                  {!n['router:external'] && !n.shared && (
                    <button
                      type="button"
                      class="danger"
                      disabled={busy}
                      onClick={() =>
                        act(
                          `Deleted network ${n.name || n.id}.`,
                          () => net(`networks/${n.id}`, { method: 'DELETE' }),
                          data.reload,
                        )
                      }
                    >
                      Delete network {n.name || n.id}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <h2>Routers</h2>
      {d && d.routers.length === 0 && <p>No routers yet.</p>}
      {d?.routers.map((r) => (
        <RouterCard
          key={r.id}
          router={r}
          data={d}
          busy={busy}
          act={act}
          reload={data.reload}
          networkName={networkName}
          subnetLabel={subnetLabel}
        />
      ))}

      <h2>Floating IPs</h2>
      <FloatingIpList data={d} busy={busy} act={act} reload={data.reload} external={external} />
    </Page>
  );
}

type Act = ReturnType<typeof useAction>[1];

function RouterCard(props: {
  router: Router;
  data: NetworkData;
  busy: boolean;
  act: Act;
  reload: () => void;
  networkName: (id: string) => string;
  subnetLabel: (s: Subnet) => string;
}) {
  const { router: r, data: d, busy, act, reload } = props;
  const [subnet, setSubnet] = useState('');
  const label = r.name || r.id;
  const attached = d.ports
    .filter((p) => p.device_id === r.id && p.device_owner.startsWith('network:router_interface'))
    .flatMap((p) =>
      p.fixed_ips.map((ip) => ({ ...ip, subnet: d.subnets.find((s) => s.id === ip.subnet_id) })),
    );
  const free = d.subnets.filter(
    (s) =>
      !attached.some((a) => a.subnet_id === s.id) &&
      !d.networks.find((n) => n.id === s.network_id)?.['router:external'],
  );
  return (
    <article class="card" aria-label={`Router ${label}`} data-router={r.name}>
      <h3>
        {label} <span class="badge">{r.status}</span>
      </h3>
      <p>
        Gateway:{' '}
        {r.external_gateway_info ? props.networkName(r.external_gateway_info.network_id) : 'none'}
      </p>
      <ul>
        {attached.map((a) => (
          <li key={a.subnet_id}>
            {a.subnet ? props.subnetLabel(a.subnet) : a.subnet_id} at {a.ip_address}{' '}
            <button
              type="button"
              disabled={busy}
              onClick={() =>
                act(
                  `Removed ${a.subnet?.name || a.subnet_id} from router ${label}.`,
                  () =>
                    call(`network/v2.0/routers/${r.id}/remove_router_interface`, {
                      method: 'PUT',
                      body: { subnet_id: a.subnet_id },
                    }),
                  reload,
                )
              }
            >
              Remove interface
            </button>
          </li>
        ))}
      </ul>
      <div class="inline-form">
        <label>
          Subnet
          <select value={subnet} onChange={(e) => setSubnet((e.target as HTMLSelectElement).value)}>
            <option value="">Choose a subnet</option>
            {free.map((s) => (
              <option key={s.id} value={s.id}>
                {props.subnetLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          disabled={busy || !subnet}
          onClick={() =>
            act(
              `Added an interface on ${d.subnets.find((s) => s.id === subnet)?.name ?? subnet} to router ${label}.`,
              () =>
                call(`network/v2.0/routers/${r.id}/add_router_interface`, {
                  method: 'PUT',
                  body: { subnet_id: subnet },
                }),
              () => {
                setSubnet('');
                reload();
              },
            )
          }
        >
          Add interface to {label}
        </button>
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={() =>
            act(
              `Deleted router ${label}.`,
              () => call(`network/v2.0/routers/${r.id}`, { method: 'DELETE' }),
              reload,
            )
          }
        >
          Delete router {label}
        </button>
      </div>
    </article>
  );
}

function FloatingIpList(props: {
  data: NetworkData | undefined;
  busy: boolean;
  act: Act;
  reload: () => void;
  external: Network[];
}) {
  const { data: d, busy, act, reload, external } = props;
  const [pool, setPool] = useState('');
  const chosen = pool || external[0]?.id || '';
  return (
    <>
      <div class="inline-form">
        <label>
          From network
          <select value={chosen} onChange={(e) => setPool((e.target as HTMLSelectElement).value)}>
            {external.map((n) => (
              <option key={n.id} value={n.id}>
                {n.name || n.id}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          disabled={busy || !chosen}
          onClick={() =>
            act(
              'Allocated a floating IP.',
              () =>
                call('network/v2.0/floatingips', {
                  method: 'POST',
                  body: { floatingip: { floating_network_id: chosen } },
                }),
              reload,
            )
          }
        >
          Allocate a floating IP
        </button>
      </div>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Floating IPs</caption>
          <thead>
            <tr>
              <th scope="col">Address</th>
              <th scope="col">Fixed IP</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {d?.floatingips.map((f) => (
              <tr key={f.id}>
                <td>{f.floating_ip_address}</td>
                <td>{f.fixed_ip_address ?? '—'}</td>
                <td>{f.status}</td>
                <td>
                  <button
                    type="button"
                    class="danger"
                    disabled={busy}
                    onClick={() =>
                      act(
                        `Released ${f.floating_ip_address}.`,
                        () => call(`network/v2.0/floatingips/${f.id}`, { method: 'DELETE' }),
                        reload,
                      )
                    }
                  >
                    Release {f.floating_ip_address}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
