// Volumes: the list, create and delete through the Block Storage API; attach to an instance
// and detach through the Compute API's volume attachments; snapshots made, listed and deleted.
import { useState } from 'preact/hooks';
import { call, compute } from '../api.js';
import type { Server, Snapshot, Volume } from '../types.js';
import { LoadError, Page, Result, age, useAction, useLoad } from './common.js';

export function Volumes({ servers }: { servers: Server[] | undefined }) {
  const list = useLoad(() => call<{ volumes: Volume[] }>('volume/volumes/detail'));
  const snaps = useLoad(() => call<{ snapshots: Snapshot[] }>('volume/snapshots/detail'));
  const [outcome, act, busy] = useAction();
  const reload = () => {
    list.reload();
    snaps.reload();
  };
  const serverName = (id: string) => servers?.find((s) => s.id === id)?.name || id;
  const volumeName = (id: string) => {
    const v = list.data?.volumes.find((x) => x.id === id);
    return v ? v.name || v.id : id;
  };
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
      <LoadError error={list.error ?? snaps.error} />
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
        <button type="button" onClick={reload}>
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
              <VolumeRow
                key={v.id}
                volume={v}
                servers={servers}
                serverName={serverName}
                busy={busy}
                act={act}
                reload={reload}
              />
            ))}
          </tbody>
        </table>
      </div>
      <h2>Snapshots</h2>
      {snaps.data && snaps.data.snapshots.length === 0 && <p>No snapshots yet.</p>}
      {snaps.data && snaps.data.snapshots.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Snapshots</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Volume</th>
                <th scope="col">Size</th>
                <th scope="col">Status</th>
                <th scope="col">Age</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {snaps.data.snapshots.map((s) => (
                <tr key={s.id} data-snapshot={s.name ?? ''}>
                  <td>{s.name || s.id}</td>
                  <td>{volumeName(s.volume_id)}</td>
                  <td>{s.size} GB</td>
                  <td>{s.status}</td>
                  <td>{age(s.created_at)}</td>
                  <td>
                    <button
                      type="button"
                      class="danger"
                      disabled={busy}
                      onClick={() =>
                        act(
                          `Deleting snapshot ${s.name || s.id}.`,
                          () => call(`volume/snapshots/${s.id}`, { method: 'DELETE' }),
                          reload,
                        )
                      }
                    >
                      Delete snapshot {s.name || s.id}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}

function VolumeRow(props: {
  volume: Volume;
  servers: Server[] | undefined;
  serverName: (id: string) => string;
  busy: boolean;
  act: ReturnType<typeof useAction>[1];
  reload: () => void;
}) {
  const { volume: v, busy, act, reload } = props;
  const [target, setTarget] = useState('');
  const label = v.name || v.id;
  const running = props.servers?.filter((s) => s.status === 'ACTIVE' || s.status === 'SHUTOFF');
  return (
    <tr data-volume={v.name ?? ''}>
      <td>{label}</td>
      <td>{v.size} GB</td>
      <td data-testid="volume-status">{v.status}</td>
      <td>
        {v.attachments.map((a) => (
          <span key={a.server_id}>
            {props.serverName(a.server_id)}
            {a.device ? ` at ${a.device}` : ''}{' '}
            <button
              type="button"
              disabled={busy}
              onClick={() =>
                act(
                  `Detaching volume ${label} from ${props.serverName(a.server_id)}.`,
                  () =>
                    compute(`servers/${a.server_id}/os-volume_attachments/${v.id}`, {
                      method: 'DELETE',
                    }),
                  reload,
                )
              }
            >
              Detach {label}
            </button>
          </span>
        ))}
        {v.attachments.length === 0 && (
          <span class="inline-form">
            <label>
              Instance
              <select
                value={target}
                aria-label={`Instance to attach ${label} to`}
                onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}
              >
                <option value="">Choose an instance</option>
                {running?.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name || s.id}
                  </option>
                ))}
              </select>
            </label>
            <button
              type="button"
              disabled={busy || !target}
              onClick={() =>
                act(
                  `Attaching volume ${label} to ${props.serverName(target)}.`,
                  () =>
                    compute(`servers/${target}/os-volume_attachments`, {
                      method: 'POST',
                      body: { volumeAttachment: { volumeId: v.id } },
                    }),
                  () => {
                    setTarget('');
                    reload();
                  },
                )
              }
            >
              Attach {label}
            </button>
          </span>
        )}
      </td>
      <td>{age(v.created_at)}</td>
      <td>
        <button
          type="button"
          disabled={busy}
          onClick={() =>
            act(
              `Creating a snapshot of volume ${label}.`,
              () =>
                call('volume/snapshots', {
                  method: 'POST',
                  body: { snapshot: { volume_id: v.id, name: `${label}-snap`, force: true } },
                }),
              reload,
            )
          }
        >
          Snapshot {label}
        </button>{' '}
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={() =>
            act(
              `Deleting volume ${label}.`,
              () => call(`volume/volumes/${v.id}`, { method: 'DELETE' }),
              reload,
            )
          }
        >
          Delete {label}
        </button>
      </td>
    </tr>
  );
}
