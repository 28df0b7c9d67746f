// The project's instances as the dashboard server streams them (server-sent events), so the
// lists follow state changes without a reload.
import { useEffect, useState } from 'preact/hooks';
import type { Server } from './types.js';

export function useLiveServers(onSignedOut: () => void): Server[] | undefined {
  const [servers, setServers] = useState<Server[] | undefined>(undefined);
  useEffect(() => {
    const source = new EventSource('/api/events');
    source.addEventListener('servers', (e) => {
      const data = JSON.parse((e as MessageEvent<string>).data) as { servers: Server[] };
      setServers(data.servers);
    });
    source.addEventListener('signed-out', () => {
      source.close();
      onSignedOut();
    });
    return () => source.close();
  }, []);
  return servers;
}
