// Volumes: the list, create and delete, through the Block Storage API.
import { call } from '../api.js';
import type { Volume } from '../types.js';
import { LoadError, Page, Result, age, useAction, useLoad } from './common.js';

export function Volumes() {
  const list = useLoad(() => call<{ volumes: Volume[] }>('volume/volumes/detail'));
  const [outcome, act, busy] = useAction();
  const create = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const name = String(f.get('name') ?? '');
    void act(
      `Creating volume ${name}.`,
      () =>
        call('volume/volumes', {
          method: 'POST',
          body: { volume: { name, size: Number(f.get('size') ?? '1') } },
        }),
      () => {
        form.reset();
        list.reload();
      },
    );
  };
  return (
    <Page title="Volumes">
      <LoadError error={list.error} />
      <form class="card" onSubmit={create} aria-label="Create volume">
        <h2>Create a volume</h2>
        <label for="vol-name">Name</label>
        <input id="vol-name" name="name" />
        <label for="vol-size">Size (GB)</label>
        <input id="vol-size" name="size" type="number" min={1} value="1" />
        <button type="submit" disabled={busy}>
          Create
        </button>
      </form>
      <Result outcome={outcome} />
      <p>
        <button type="button" onClick={list.reload}>
          Refresh
        </button>
      </p>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Volumes</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Size</th>
              <th scope="col">Status</th>
              <th scope="col">Attached to</th>
              <th scope="col">Age</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.volumes.map((v) => (
              <tr key={v.id}>
                <td>{v.name || v.id}</td>
                <td>{v.size} GB</td>
                <td>{v.status}</td>
                <td>{v.attachments.map((a) => a.server_id).join(', ') || '—'}</td>
                <td>{age(v.created_at)}</td>
                <td>
                  <button
                    type="button"
                    class="danger"
                    disabled={busy}
                    onClick={() =>
                      act(
                        `Deleting volume ${v.name || v.id}.`,
                        () => call(`volume/volumes/${v.id}`, { method: 'DELETE' }),
                        list.reload,
                      )
                    }
                  >
                    Delete
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
