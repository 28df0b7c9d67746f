// Floating IPs: allocate, release, and which instance each is on.
import { compute } from '../api.js';
import type { FloatingIp, Server } from '../types.js';
import { LoadError, Page, Result, useAction, useLoad } from './common.js';

export function FloatingIps({ servers }: { servers: Server[] | undefined }) {
  const list = useLoad(() => compute<{ floating_ips: FloatingIp[] }>('os-floating-ips'));
  const [outcome, act, busy] = useAction();
  const nameOf = (id: string | null) =>
    id ? (servers?.find((s) => s.id === id)?.name ?? id) : '—';
  return (
    <Page title="Floating IPs">
      <LoadError error={list.error} />
      <p>
        <button
          type="button"
          disabled={busy}
          onClick={() =>
            act(
              'Allocated a floating IP.',
              () => compute('os-floating-ips', { method: 'POST', body: {} }),
              list.reload,
            )
          }
        >
          Allocate a floating IP
        </button>
      </p>
      <Result outcome={outcome} />
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Floating IPs</caption>
          <thead>
            <tr>
              <th scope="col">Address</th>
              <th scope="col">Pool</th>
              <th scope="col">Instance</th>
              <th scope="col">Fixed IP</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.floating_ips.map((f) => (
              <tr key={f.id}>
                <td>{f.ip}</td>
                <td>{f.pool}</td>
                <td>{nameOf(f.instance_id)}</td>
                <td>{f.fixed_ip ?? '—'}</td>
                <td>
                  <button
                    type="button"
                    class="danger"
                    disabled={busy}
                    onClick={() =>
                      act(
                        `Released ${f.ip}.`,
                        () => compute(`os-floating-ips/${f.id}`, { method: 'DELETE' }),
                        list.reload,
                      )
                    }
                  >
                    Release {f.ip}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Page>
  );
}
