// The ordered list of schema migrations; names sort in the order they run.
import type { Migration } from 'kysely';
import * as m0001 from './0001-identity-and-services.js';

export const MIGRATIONS: Record<string, Migration> = {
  '0001-identity-and-services': m0001,
};
