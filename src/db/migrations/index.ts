// The ordered list of schema migrations; names sort in the order they run.
import type { Migration } from 'kysely';
import * as m0001 from './0001-identity-and-services.js';
import * as m0002 from './0002-compute.js';
import * as m0004 from './0004-addresses.js';

export const MIGRATIONS: Record<string, Migration> = {
  '0001-identity-and-services': m0001,
  '0002-compute': m0002,
  '0004-addresses': m0004,
};
