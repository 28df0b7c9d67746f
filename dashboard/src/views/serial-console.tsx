// The interactive serial console in the page: a one-time URL from the Compute API's
// remote-consoles, a WebSocket to it, and xterm.js drawing what the guest prints.
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import { call, errorText } from '../api.js';

export function SerialConsole({ id, name }: { id: string; name: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState('Connecting…');
  useEffect(() => {
    let ws: WebSocket | undefined;
    let closed = false;
    const term = new Terminal({
      rows: 24,
      cols: 80,
      convertEol: false,
      fontFamily: 'ui-monospace, monospace',
      screenReaderMode: true,
    });
    term.open(box.current as HTMLDivElement);
    void call<{ remote_console: { url: string } }>(
      `compute/servers/${encodeURIComponent(id)}/remote-consoles`,
      {
        method: 'POST',
        microversion: '2.6',
        body: { remote_console: { protocol: 'serial', type: 'serial' } },
      },
    ).then(
      ({ remote_console }) => {
        if (closed) return;
        ws = new WebSocket(remote_console.url);
        ws.binaryType = 'arraybuffer';
        ws.onopen = () => {
          setStatus(`Connected to the serial console of ${name}.`);
          term.focus();
          // A new line, so that a shell waiting on the console prints its prompt.
          ws?.send('\r');
        };
        ws.onmessage = (e) => {
          term.write(typeof e.data === 'string' ? e.data : new Uint8Array(e.data as ArrayBuffer));
        };
        ws.onclose = () => setStatus('The console connection is closed.');
        ws.onerror = () => setStatus('The console connection failed.');
        term.onData((d) => ws?.send(d));
      },
      (err: unknown) => setStatus(errorText(err)),
    );
    return () => {
      closed = true;
      ws?.close();
      term.dispose();
    };
  }, [id]);
  return (
    <div>
      <p role="status" data-testid="serial-status">
        {status}
      </p>
      <div ref={box} class="terminal" aria-label={`Serial console of ${name}`} />
    </div>
  );
}
