// Names and ids of identity records: the name rule every user, project, group, role and
// domain follows, and the 32-hex-digit ids the Identity API shows.
import { randomUUID } from 'node:crypto';
import { invalid, type ErrorResource } from '../errors.js';

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

export function checkName(resource: ErrorResource, name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw invalid(
      `The ${resource} name '${name}' is not valid: use 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit.`,
      { resource, id: name },
    );
  }
}

/** Ids as the Identity API shows them: 32 lowercase hex digits. */
export function newId(): string {
  return randomUUID().replace(/-/g, '');
}
