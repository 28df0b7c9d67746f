// Admin views: hosts with capacity and usage, services with disable and enable, projects and
// users, every project's instances with filters, and which guests run on which host.
import { useState } from 'preact/hooks';
import { call, compute, computeNew } from '../api.js';
import type { ComputeService, Hypervisor, Server } from '../types.js';
import { Bar, LoadError, Page, Result, useAction, useLoad } from './common.js';
import { ServerTable } from './instances.js';

const allServers = (query = '') =>
  computeNew<{ servers: Server[] }>(`servers/detail?all_tenants=1${query}`);

export function AdminHosts() {
  const hosts = useLoad(() => compute<{ hypervisors: Hypervisor[] }>('os-hypervisors/detail'));
  const servers = useLoad(() => allServers());
  return (
    <Page title="Hosts">
      <LoadError error={hosts.error ?? servers.error} />
      <div class="hosts">
        {hosts.data?.hypervisors.map((h) => {
          const guests =
            servers.data?.servers.filter(
              (s) => s['OS-EXT-SRV-ATTR:host'] === h.hypervisor_hostname,
            ) ?? [];
          return (
            <article
              class="card host"
              key={h.id}
              data-host={h.hypervisor_hostname}
              aria-labelledby={`host-${h.id}`}
            >
              <h2 id={`host-${h.id}`}>
                {h.hypervisor_hostname}{' '}
                <span class={h.state === 'up' ? 'badge up' : 'badge down'} data-testid="host-state">
                  {h.state}
                </span>{' '}
                <span class="badge">{h.status}</span>
              </h2>
              <Bar label="vCPUs" used={h.vcpus_used} limit={h.vcpus} />
              <Bar label="Memory (MiB)" used={h.memory_mb_used} limit={h.memory_mb} />
              <Bar label="Disk (GB)" used={h.local_gb_used} limit={h.local_gb} />
              <h3>Guests ({guests.length})</h3>
              <ul class="guests">
                {guests.map((g) => (
                  <li key={g.id}>
                    <a href={`#/instances/${encodeURIComponent(g.id)}`}>{g.name || g.id}</a> —{' '}
                    {g.status}
                  </li>
                ))}
              </ul>
            </article>
          );
        })}
      </div>
    </Page>
  );
}

export function AdminServices() {
  const list = useLoad(() =>
    call<{ services: ComputeService[] }>('compute/os-services', { microversion: '2.53' }),
  );
  const [outcome, act, busy] = useAction();
  const set = (s: ComputeService, status: 'enabled' | 'disabled') =>
    act(
      `${status === 'disabled' ? 'Disabled' : 'Enabled'} ${s.binary} on ${s.host}.`,
      () =>
        call(`compute/os-services/${s.id}`, {
          method: 'PUT',
          microversion: '2.53',
          body:
            status === 'disabled'
              ? { status, disabled_reason: 'Disabled from the dashboard.' }
              : { status },
        }),
      list.reload,
    );
  return (
    <Page title="Services">
      <LoadError error={list.error} />
      <Result outcome={outcome} />
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Services</caption>
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Host</th>
              <th scope="col">Zone</th>
              <th scope="col">Status</th>
              <th scope="col">State</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.services.map((s) => (
              <tr key={s.id} data-service={`${s.binary}@${s.host}`}>
                <td>{s.binary}</td>
                <td>{s.host}</td>
                <td>{s.zone}</td>
                <td data-testid="service-status">
                  {s.status}
                  {s.disabled_reason ? ` (${s.disabled_reason})` : ''}
                </td>
                <td>{s.state}</td>
                <td>
                  {s.status === 'enabled' ? (
                    <button type="button" disabled={busy} onClick={() => set(s, 'disabled')}>
                      Disable {s.binary} on {s.host}
                    </button>
                  ) : (
                    <button type="button" disabled={busy} onClick={() => set(s, 'enabled')}>
                      Enable {s.binary} on {s.host}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Page>
  );
}

interface Project {
  id: string;
  name: string;
  enabled: boolean;
  description?: string;
}
interface User {
  id: string;
  name: string;
  enabled: boolean;
  default_project_id?: string;
}

export function AdminProjects() {
  const data = useLoad(async () => {
    const [p, u] = await Promise.all([
      call<{ projects: Project[] }>('identity/projects'),
      call<{ users: User[] }>('identity/users'),
    ]);
    return { projects: p.projects, users: u.users };
  });
  return (
    <Page title="Projects and users">
      <LoadError error={data.error} />
      <h2>Projects</h2>
      <ul>
        {data.data?.projects.map((p) => (
          <li key={p.id}>
            {p.name} <span class="mono">{p.id}</span> {p.enabled ? '' : '(disabled)'}
          </li>
        ))}
      </ul>
      <h2>Users</h2>
      <ul>
        {data.data?.users.map((u) => (
          <li key={u.id}>
            {u.name} <span class="mono">{u.id}</span> {u.enabled ? '' : '(disabled)'}
          </li>
        ))}
      </ul>
    </Page>
  );
}

export function AdminInstances() {
  const [filters, setFilters] = useState({ name: '', status: '', host: '', project: '' });
  const query = Object.entries({
    name: filters.name,
    status: filters.status,
    host: filters.host,
    project_id: filters.project,
  })
    .filter(([, v]) => v)
    .map(([k, v]) => `&${k}=${encodeURIComponent(v)}`)
    .join('');
  const list = useLoad(() => allServers(query), [query]);
  return (
    <Page title="All instances">
      <form
        class="inline-form"
        aria-label="Filter instances"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget as HTMLFormElement);
          setFilters({
            name: String(f.get('name') ?? ''),
            status: String(f.get('status') ?? ''),
            host: String(f.get('host') ?? ''),
            project: String(f.get('project') ?? ''),
          });
        }}
      >
        <label>
          Name
          <input name="name" />
        </label>
        <label>
          Status
          <select name="status">
            <option value="">Any</option>
            <option value="ACTIVE">ACTIVE</option>
            <option value="BUILD">BUILD</option>
            <option value="SHUTOFF">SHUTOFF</option>
            <option value="ERROR">ERROR</option>
          </select>
        </label>
        <label>
          Host
          <input name="host" />
        </label>
        <label>
          Project ID
          <input name="project" />
        </label>
        <button type="submit">Filter</button>
      </form>
      <LoadError error={list.error} />
      {list.data && <ServerTable servers={list.data.servers} showProject />}
    </Page>
  );
}
