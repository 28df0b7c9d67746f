// Images: the list, one image's details, an upload with a progress bar, and delete.
import { useState } from 'preact/hooks';
import { call, uploadImageData, type Session } from '../api.js';
import type { Image } from '../types.js';
import { LoadError, Page, Result, age, useAction, useLoad } from './common.js';

export function Images({ session }: { session: Session }) {
  const images = useLoad(() => call<{ images: Image[] }>('image/v2/images'));
  const [outcome, act, busy] = useAction();
  const [progress, setProgress] = useState<number | undefined>(undefined);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const upload = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const file = f.get('file');
    const name = String(f.get('name') ?? '');
    if (!(file instanceof File) || file.size === 0) {
      void act('', () => Promise.reject(new Error('Choose a file to upload.')));
      return;
    }
    setProgress(0);
    void act(
      `Uploaded image ${name || file.name}.`,
      async () => {
        const created = await call<Image>('image/v2/images', {
          method: 'POST',
          body: {
            name: name || file.name,
            disk_format: String(f.get('disk_format') ?? 'qcow2'),
            container_format: 'bare',
          },
        });
        await uploadImageData(created.id, file, setProgress);
      },
      () => {
        form.reset();
        images.reload();
      },
    );
  };
  return (
    <Page title="Images">
      <LoadError error={images.error} />
      <form class="card" onSubmit={upload} aria-label="Upload image">
        <h2>Upload an image</h2>
        <label for="image-name">Name</label>
        <input id="image-name" name="name" />
        <label for="image-format">Disk format</label>
        <select id="image-format" name="disk_format">
          <option value="qcow2">qcow2</option>
          <option value="raw">raw</option>
        </select>
        <label for="image-file">File</label>
        <input id="image-file" name="file" type="file" />
        <button type="submit" disabled={busy}>
          Upload
        </button>
        {progress !== undefined && (
          <>
            <label for="upload-progress">Upload progress</label>
            <progress id="upload-progress" max={100} value={Math.round(progress * 100)}>
              {Math.round(progress * 100)}%
            </progress>
            <span data-testid="upload-percent"> {Math.round(progress * 100)}%</span>
          </>
        )}
        <Result outcome={outcome} />
      </form>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Images</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Size</th>
              <th scope="col">Visibility</th>
              <th scope="col">Age</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {images.data?.images.map((i) => (
              <>
                <tr key={i.id} data-image={i.id}>
                  <td>{i.name ?? i.id}</td>
                  <td>{i.status}</td>
                  <td>{i.size === null ? '—' : `${(i.size / 1048576).toFixed(1)} MiB`}</td>
                  <td>{i.visibility}</td>
                  <td>{age(i.created_at)}</td>
                  <td>
                    <button
                      type="button"
                      aria-expanded={open === i.id}
                      onClick={() => setOpen(open === i.id ? undefined : i.id)}
                    >
                      Details
                    </button>
                    {(i.owner === session.project.id || session.admin) && (
                      <button
                        type="button"
                        class="danger"
                        disabled={busy}
                        onClick={() => {
                          if (confirm(`Delete image ${i.name ?? i.id}?`)) {
                            void act(
                              `Deleted image ${i.name ?? i.id}.`,
                              () => call(`image/v2/images/${i.id}`, { method: 'DELETE' }),
                              images.reload,
                            );
                          }
                        }}
                      >
                        Delete
                      </button>
                    )}
                  </td>
                </tr>
                {open === i.id && (
                  <tr key={`${i.id}-details`}>
                    <td colSpan={6}>
                      <dl class="details">
                        <dt>ID</dt>
                        <dd>{i.id}</dd>
                        <dt>Disk format</dt>
                        <dd>{i.disk_format ?? '—'}</dd>
                        <dt>Container format</dt>
                        <dd>{i.container_format ?? '—'}</dd>
                        <dt>Owner</dt>
                        <dd>{i.owner ?? '—'}</dd>
                        <dt>Minimum disk</dt>
                        <dd>{i.min_disk ?? 0} GB</dd>
                        <dt>Minimum RAM</dt>
                        <dd>{i.min_ram ?? 0} MiB</dd>
                      </dl>
                    </td>
                  </tr>
                )}
              </>
            ))}
          </tbody>
        </table>
      </div>
    </Page>
  );
}
