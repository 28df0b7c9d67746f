// The metadata proxy, a program the data plane runs inside the host namespace: it listens on
// the gateway address (where the 169.254.169.254 DNAT sends guests) and forwards each request
// to the metadata server's unix socket, with the caller's address in `X-Forwarded-For`
// (replacing whatever the guest sent), so the server can tell which instance is asking. An
// `X-Forwarded-For` the guest sent goes on in `X-Stratus-Client-Forwarded-For` (and one the
// guest sent under that name is dropped): IMDSv2 refuses token requests that came through a
// proxy, as EC2 does (src/api/metadata/metadata-server.ts, CLIENT_FORWARDED_FOR).
//
// A proxy serving one project network (where addresses may overlap with other projects')
// also names that network in `X-Stratus-Network-Id`, replacing any the guest sent, so the
// server can tell which of several guests with one address is asking.
//
// Invoked as: node metadata-proxy.js ADDRESS PORT UPSTREAM_SOCKET PID_FILE [NETWORK_ID]
import fs from 'node:fs';
import http from 'node:http';

const [address, portText, upstream, pidFile, networkId] = process.argv.slice(2);
const CLIENT_FORWARDED_FOR = 'x-stratus-client-forwarded-for';
const NETWORK_ID = 'x-stratus-network-id';

function main(): void {
  if (!address || !portText || !upstream || !pidFile) {
    process.stderr.write('usage: metadata-proxy ADDRESS PORT UPSTREAM_SOCKET PID_FILE\n');
    process.exit(2);
  }
  const server = http.createServer((req, res) => {
    const caller = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const { 'x-forwarded-for': sent, ...rest } = req.headers;
    delete rest[CLIENT_FORWARDED_FOR];
    delete rest[NETWORK_ID];
    const headers = {
      ...rest,
      ...(networkId ? { [NETWORK_ID]: networkId } : {}),
      'x-forwarded-for': caller,
      ...(sent !== undefined ? { [CLIENT_FORWARDED_FOR]: sent } : {}),
    };
    const out = http.request(
      { socketPath: upstream, method: req.method, path: req.url, headers, timeout: 10_000 },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on('timeout', () => out.destroy(new Error('timeout')));
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('The metadata service is not available.\n');
    });
    req.pipe(out);
  });
  server.listen(Number(portText), address, () => {
    fs.writeFileSync(pidFile, `${process.pid}\n`);
  });
  const stop = (): void => {
    server.close();
    fs.rmSync(pidFile, { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
