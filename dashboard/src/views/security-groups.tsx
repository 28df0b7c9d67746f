// Security groups and their rules: create and delete groups, add and remove rules.
import { compute } from '../api.js';
import type { SecurityGroup, SecurityGroupRule } from '../types.js';
import { LoadError, Page, Result, useAction, useLoad } from './common.js';

function ruleText(r: SecurityGroupRule): string {
  const ports =
    r.from_port === null || r.from_port === -1
      ? 'any port'
      : r.from_port === r.to_port
        ? `port ${r.from_port}`
        : `ports ${r.from_port}-${r.to_port}`;
  const from = r.ip_range.cidr ?? (r.group.name ? `group ${r.group.name}` : 'anywhere');
  return `${r.ip_protocol ?? 'any protocol'} ${ports} from ${from}`;
}

export function SecurityGroups() {
  const list = useLoad(() => compute<{ security_groups: SecurityGroup[] }>('os-security-groups'));
  const [outcome, act, busy] = useAction();
  const create = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const name = String(f.get('name') ?? '');
    void act(
      `Created security group ${name}.`,
      () =>
        compute('os-security-groups', {
          method: 'POST',
          body: { security_group: { name, description: String(f.get('description') ?? '') } },
        }),
      () => {
        form.reset();
        list.reload();
      },
    );
  };
  const addRule = (group: SecurityGroup) => (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const num = (k: string) => Number(f.get(k) ?? '');
    void act(
      `Added a rule to ${group.name}.`,
      () =>
        compute('os-security-group-rules', {
          method: 'POST',
          body: {
            security_group_rule: {
              parent_group_id: group.id,
              ip_protocol: String(f.get('protocol') ?? 'tcp'),
              from_port: num('from'),
              to_port: num('to'),
              cidr: String(f.get('cidr') ?? '0.0.0.0/0'),
            },
          },
        }),
      list.reload,
    );
  };
  return (
    <Page title="Security groups">
      <LoadError error={list.error} />
      <form class="card" onSubmit={create} aria-label="Create security group">
        <h2>Create a security group</h2>
        <label for="sg-name">Name</label>
        <input id="sg-name" name="name" required />
        <label for="sg-description">Description</label>
        <input id="sg-description" name="description" />
        <button type="submit" disabled={busy}>
          Create
        </button>
      </form>
      <Result outcome={outcome} />
      {list.data?.security_groups.map((g) => (
        <article class="card" key={g.id} aria-labelledby={`sg-${g.id}`}>
          <h2 id={`sg-${g.id}`}>{g.name}</h2>
          <p>{g.description}</p>
          <ul>
            {g.rules.map((r) => (
              <li key={r.id}>
                {ruleText(r)}{' '}
                <button
                  type="button"
                  class="danger"
                  disabled={busy}
                  onClick={() =>
                    act(
                      `Removed a rule from ${g.name}.`,
                      () => compute(`os-security-group-rules/${r.id}`, { method: 'DELETE' }),
                      list.reload,
                    )
                  }
                >
                  Remove rule
                </button>
              </li>
            ))}
          </ul>
          <form class="inline-form" onSubmit={addRule(g)} aria-label={`Add a rule to ${g.name}`}>
            <label>
              Protocol
              <select name="protocol">
                <option value="tcp">TCP</option>
                <option value="udp">UDP</option>
                <option value="icmp">ICMP</option>
              </select>
            </label>
            <label>
              From port
              <input name="from" type="number" value="22" min={-1} max={65535} />
            </label>
            <label>
              To port
              <input name="to" type="number" value="22" min={-1} max={65535} />
            </label>
            <label>
              Source CIDR
              <input name="cidr" value="0.0.0.0/0" />
            </label>
            <button type="submit" disabled={busy}>
              Add rule
            </button>
          </form>
          {g.name !== 'default' && (
            <button
              type="button"
              class="danger"
              disabled={busy}
              onClick={() =>
                act(
                  `Deleted security group ${g.name}.`,
                  () => compute(`os-security-groups/${g.id}`, { method: 'DELETE' }),
                  list.reload,
                )
              }
            >
              Delete group {g.name}
            </button>
          )}
        </article>
      ))}
    </Page>
  );
}
