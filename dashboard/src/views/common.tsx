// Pieces every view uses: loading a list, a result line read out to screen readers, ages.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { errorText } from '../api.js';

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  reload: () => void;
}

/** Runs `load` now and on `reload()`; keeps the last data while reloading. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(undefined);
      },
      (err: unknown) => live && setError(errorText(err)),
    );
    return () => {
      live = false;
    };
  }, [n, ...deps]);
  return { data, error, reload: useCallback(() => setN((x) => x + 1), []) };
}

export interface Outcome {
  ok: boolean;
  text: string;
}

/** Runs an action and reports its outcome (or the API's message) in words. */
export function useAction(): [
  Outcome | undefined,
  (what: string, run: () => Promise<unknown>, after?: () => void) => Promise<void>,
  boolean,
] {
  const [outcome, setOutcome] = useState<Outcome | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const act = async (what: string, run: () => Promise<unknown>, after?: () => void) => {
    setBusy(true);
    try {
      await run();
      setOutcome({ ok: true, text: what });
      after?.();
    } catch (err) {
      setOutcome({ ok: false, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  };
  return [outcome, act, busy];
}

export function Result({ outcome }: { outcome: Outcome | undefined }) {
  return (
    <p class={outcome ? (outcome.ok ? 'result ok' : 'result error') : 'result'} role="status">
      {outcome?.text ?? ''}
    </p>
  );
}

export function LoadError({ error }: { error: string | undefined }) {
  return error ? (
    <p class="result error" role="alert">
      {error}
    </p>
  ) : null;
}

export function Page({ title, children }: { title: string; children: ComponentChildren }) {
  useEffect(() => {
    document.title = `${title} · Stratus`;
  }, [title]);
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">{title}</h1>
      {children}
    </section>
  );
}

/** "3 min", "2 h", "5 d" since an ISO time. */
export function age(iso: string | null | undefined): string {
  if (!iso) return '';
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

export function Bar({ label, used, limit }: { label: string; used: number; limit: number }) {
  const unlimited = limit < 0;
  const pct = unlimited || limit === 0 ? 0 : Math.min(100, Math.round((used / limit) * 100));
  return (
    <div class="bar">
      <div class="bar-label">
        <span>{label}</span>
        <span>
          {used} of {unlimited ? 'unlimited' : limit}
        </span>
      </div>
      <div
        class={pct >= 90 ? 'bar-track full' : 'bar-track'}
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={unlimited ? undefined : limit}
        aria-valuenow={used}
      >
        <div class="bar-fill" style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}

export function addressesOf(addresses: Record<string, { addr: string }[]> | undefined): string {
  return Object.values(addresses ?? {})
    .flat()
    .map((a) => a.addr)
    .join(', ');
}
