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

interface Role {
  id: string;
  name: string;
}

const identity = <T,>(path: string, options: Parameters<typeof call>[1] = {}) =>
  call<T>(`identity/${path}`, options);

export function AdminProjects() {
  const data = useLoad(async () => {
    const [p, u, r] = await Promise.all([
      identity<{ projects: Project[] }>('projects'),
      identity<{ users: User[] }>('users'),
      identity<{ roles: Role[] }>('roles'),
    ]);
    return { projects: p.projects, users: u.users, roles: r.roles };
  });
  const [outcome, act, busy] = useAction();
  const d = data.data;
  const projectName = (id: string | undefined) =>
    (id && d?.projects.find((p) => p.id === id)?.name) || id || '—';

  const createProject = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const name = String(f.get('name') ?? '').trim();
    void act(
      `Created project ${name}.`,
      () =>
        identity('projects', {
          method: 'POST',
          body: { project: { name, description: String(f.get('description') ?? '') } },
        }),
      () => {
        form.reset();
        data.reload();
      },
    );
  };
  const createUser = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const name = String(f.get('name') ?? '').trim();
    const project = String(f.get('project') ?? '');
    void act(
      `Created user ${name}.`,
      () =>
        identity('users', {
          method: 'POST',
          body: {
            user: {
              name,
              password: String(f.get('password') ?? ''),
              ...(project ? { default_project_id: project } : {}),
            },
          },
        }),
      () => {
        form.reset();
        data.reload();
      },
    );
  };
  const grant = (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const user = d?.users.find((u) => u.id === f.get('user'));
    const project = d?.projects.find((p) => p.id === f.get('project'));
    const role = d?.roles.find((r) => r.id === f.get('role'));
    if (!user || !project || !role) return;
    void act(
      `Granted ${role.name} on ${project.name} to ${user.name}.`,
      () => identity(`projects/${project.id}/users/${user.id}/roles/${role.id}`, { method: 'PUT' }),
      data.reload,
    );
  };
  const setEnabled = (kind: 'projects' | 'users', item: Project | User, enabled: boolean) =>
    act(
      `${enabled ? 'Enabled' : 'Disabled'} ${kind === 'projects' ? 'project' : 'user'} ${item.name}.`,
      () =>
        identity(`${kind}/${item.id}`, {
          method: 'PATCH',
          body: kind === 'projects' ? { project: { enabled } } : { user: { enabled } },
        }),
      data.reload,
    );
  const remove = (kind: 'projects' | 'users', item: Project | User) => {
    const what = `${kind === 'projects' ? 'project' : 'user'} ${item.name}`;
    if (!window.confirm(`Delete ${what}?`)) return;
    void act(
      `Deleted ${what}.`,
      () => identity(`${kind}/${item.id}`, { method: 'DELETE' }),
      data.reload,
    );
  };
  const toggles = (kind: 'projects' | 'users', item: Project | User) => (
    <>
      {item.enabled ? (
        <button type="button" disabled={busy} onClick={() => setEnabled(kind, item, false)}>
          Disable {item.name}
        </button>
      ) : (
        <button type="button" disabled={busy} onClick={() => setEnabled(kind, item, true)}>
          Enable {item.name}
        </button>
      )}{' '}
      <button type="button" class="danger" disabled={busy} onClick={() => remove(kind, item)}>
        Delete {item.name}
      </button>
    </>
  );

  return (
    <Page title="Projects and users">
      <LoadError error={data.error} />
      <div class="cards">
        <form class="card" onSubmit={createProject} aria-label="Create project">
          <h2>Create a project</h2>
          <label for="project-name">Project name</label>
          <input id="project-name" name="name" required />
          <label for="project-description">Description</label>
          <input id="project-description" name="description" />
          <button type="submit" disabled={busy}>
            Create project
          </button>
        </form>
        <form class="card" onSubmit={createUser} aria-label="Create user">
          <h2>Create a user</h2>
          <label for="user-name">User name</label>
          <input id="user-name" name="name" required />
          <label for="user-password">Password</label>
          <input
            id="user-password"
            name="password"
            type="password"
            autocomplete="new-password"
            required
          />
          <label for="user-project">Default project</label>
          <select id="user-project" name="project">
            <option value="">None</option>
            {d?.projects.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
          <button type="submit" disabled={busy}>
            Create user
          </button>
        </form>
        <form class="card" onSubmit={grant} aria-label="Grant role">
          <h2>Grant a role</h2>
          <label for="grant-user">User</label>
          <select id="grant-user" name="user" required>
            {d?.users.map((u) => (
              <option key={u.id} value={u.id}>
                {u.name}
              </option>
            ))}
          </select>
          <label for="grant-project">On project</label>
          <select id="grant-project" name="project" required>
            {d?.projects.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
          <label for="grant-role">Role</label>
          <select id="grant-role" name="role" required>
            {d?.roles.map((r) => (
              <option key={r.id} value={r.id}>
                {r.name}
              </option>
            ))}
          </select>
          <button type="submit" disabled={busy}>
            Grant role
          </button>
        </form>
      </div>
      <Result outcome={outcome} />
      <h2>Projects</h2>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Projects</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">ID</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {d?.projects.map((p) => (
              <tr key={p.id} data-project={p.name}>
                <td>{p.name}</td>
                <td class="mono">{p.id}</td>
                <td data-testid="project-status">{p.enabled ? 'enabled' : 'disabled'}</td>
                <td>{toggles('projects', p)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Users</h2>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Users</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Default project</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {d?.users.map((u) => (
              <tr key={u.id} data-user={u.name}>
                <td>{u.name}</td>
                <td>{projectName(u.default_project_id)}</td>
                <td data-testid="user-status">{u.enabled ? 'enabled' : 'disabled'}</td>
                <td>{toggles('users', u)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
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
