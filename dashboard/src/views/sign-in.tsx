// The sign-in form: a user name, password and project, or an application credential.
import { useState } from 'preact/hooks';
import { errorText, signIn, type Session } from '../api.js';

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [method, setMethod] = useState<'password' | 'application_credential'>('password');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    const form: Record<string, string> = { method };
    for (const [k, v] of data.entries()) if (typeof v === 'string') form[k] = v;
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await signIn(form));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in" id="main">
      <h1>Sign in to Stratus</h1>
      <form onSubmit={submit}>
        <fieldset>
          <legend>Sign in with</legend>
          <label class="inline">
            <input
              type="radio"
              name="how"
              checked={method === 'password'}
              onChange={() => setMethod('password')}
            />
            Password
          </label>
          <label class="inline">
            <input
              type="radio"
              name="how"
              checked={method === 'application_credential'}
              onChange={() => setMethod('application_credential')}
            />
            Application credential
          </label>
        </fieldset>
        {method === 'password' ? (
          <>
            <label for="username">User name</label>
            <input id="username" name="username" autocomplete="username" required />
            <label for="password">Password</label>
            <input
              id="password"
              name="password"
              type="password"
              autocomplete="current-password"
              required
            />
            <label for="project">Project</label>
            <input id="project" name="project" required />
            <label for="domain">Domain</label>
            <input id="domain" name="domain" value="Default" />
          </>
        ) : (
          <>
            <label for="ac-id">Application credential ID</label>
            <input id="ac-id" name="id" required />
            <label for="ac-secret">Secret</label>
            <input id="ac-secret" name="secret" type="password" required />
          </>
        )}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p class="result error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
