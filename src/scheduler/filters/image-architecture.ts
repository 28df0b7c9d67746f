// Image architecture filter: only hosts whose guests can run the image's architecture.
import type { HostFilter } from '../host-state.js';

/** The image architectures a host of each architecture runs: x86_64 also runs i386 guests. */
const RUNS: Readonly<Record<string, readonly string[]>> = {
  x86_64: ['x86_64', 'i386'],
  i386: ['i386'],
  arm64: ['arm64'],
};

export const imageArchitectureFilter: HostFilter = {
  name: 'image-architecture',
  passes: (host, spec) =>
    spec.architecture === null ||
    (RUNS[host.architecture] ?? [host.architecture]).includes(spec.architecture),
  refusal: (spec) => `No compute host runs ${spec.architecture} guests.`,
};
