// Key pairs: create (the private key is offered for download once), import, delete.
import { useState } from 'preact/hooks';
import { compute } from '../api.js';
import type { Keypair } from '../types.js';
import { LoadError, Page, Result, useAction, useLoad } from './common.js';

export function Keypairs() {
  const list = useLoad(() => compute<{ keypairs: { keypair: Keypair }[] }>('os-keypairs'));
  const [outcome, act, busy] = useAction();
  const [privateKey, setPrivateKey] = useState<{ name: string; url: string } | undefined>();
  const create = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const name = String(f.get('name') ?? '');
    const publicKey = String(f.get('public_key') ?? '').trim();
    void act(
      publicKey
        ? `Imported key pair ${name}.`
        : `Created key pair ${name}; download its private key now.`,
      async () => {
        const r = await compute<{ keypair: Keypair & { private_key?: string } }>('os-keypairs', {
          method: 'POST',
          body: { keypair: { name, ...(publicKey ? { public_key: publicKey } : {}) } },
        });
        if (r.keypair.private_key) {
          const blob = new Blob([r.keypair.private_key], { type: 'application/x-pem-file' });
          setPrivateKey({ name, url: URL.createObjectURL(blob) });
        }
      },
      () => {
        form.reset();
        list.reload();
      },
    );
  };
  return (
    <Page title="Key pairs">
      <LoadError error={list.error} />
      <form class="card" onSubmit={create} aria-label="Create or import a key pair">
        <h2>Create or import a key pair</h2>
        <label for="kp-name">Name</label>
        <input id="kp-name" name="name" required />
        <label for="kp-public">Public key to import (leave empty to create a new key)</label>
        <textarea id="kp-public" name="public_key" rows={3} />
        <button type="submit" disabled={busy}>
          Save key pair
        </button>
        <Result outcome={outcome} />
        {privateKey && (
          <p>
            <a
              href={privateKey.url}
              download={`${privateKey.name}.pem`}
              onClick={() => {
                // One download: the key exists nowhere else, and the page forgets it now.
                setTimeout(() => {
                  URL.revokeObjectURL(privateKey.url);
                  setPrivateKey(undefined);
                }, 0);
              }}
            >
              Download the private key of {privateKey.name}
            </a>
          </p>
        )}
      </form>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Key pairs</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Fingerprint</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.keypairs.map(({ keypair: k }) => (
              <tr key={k.name}>
                <td>{k.name}</td>
                <td class="mono">{k.fingerprint}</td>
                <td>
                  <button
                    type="button"
                    class="danger"
                    disabled={busy}
                    onClick={() =>
                      act(
                        `Deleted key pair ${k.name}.`,
                        () =>
                          compute(`os-keypairs/${encodeURIComponent(k.name)}`, {
                            method: 'DELETE',
                          }),
                        list.reload,
                      )
                    }
                  >
                    Delete {k.name}
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
