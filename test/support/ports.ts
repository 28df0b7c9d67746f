// Every API of a test cloud on a free port of its own, so that tests and benches running at the
// same time never fight over the default ports.

/** As config flags, for `loadConfig({ flags })`. */
export const FREE_PORTS: Readonly<Record<string, string>> = {
  'ec2-listen': '127.0.0.1:0',
  'status-listen': '127.0.0.1:0',
  'identity-listen': '127.0.0.1:0',
  'image-listen': '127.0.0.1:0',
  'compute-listen': '127.0.0.1:0',
  'volume-listen': '127.0.0.1:0',
  'network-listen': '127.0.0.1:0',
  'dashboard-listen': '127.0.0.1:0',
};

/** As command-line arguments, for the stratus binary. */
export const FREE_PORT_ARGS: readonly string[] = Object.entries(FREE_PORTS).flatMap(([k, v]) => [
  `--${k}`,
  v,
]);
