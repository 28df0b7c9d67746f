// DIR/lab.json: the lab's plan and what of it has been made so far, written before each
// step, so that `down` takes away exactly what a whole or a failed `up` made.
import fs from 'node:fs';
import path from 'node:path';
import type { LabPlan } from './plan.js';

export interface LabClient {
  name: string;
  namespace: string;
  address: string;
  index: number;
}

export interface LabState {
  version: 1;
  plan: LabPlan;
  /** Milliseconds since the epoch when `up` began. */
  startedAt: number;
  /** True once every service is up and the rc file is written. */
  ready: boolean;
  made: {
    database: boolean;
    vhost: boolean;
    /** Namespaces the lab made (segments, host data planes), in order. */
    namespaces: string[];
    clients: LabClient[];
  };
}

export const stateFile = (dir: string): string => path.join(dir, 'lab.json');

export function readState(dir: string): LabState | undefined {
  const file = stateFile(dir);
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as LabState;
}

export function writeState(state: LabState): void {
  const file = stateFile(state.plan.options.dir);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}
