// EC2's NextToken: an opaque token that holds where the next page starts, as an offset into
// a listing made in code, or as the sort key of the last row shown (keyset paging in SQL).
import type { InstanceKey } from '../../db/index.js';
import { invalid } from '../../errors.js';

/** The token of the page that starts at `offset`. */
export function pageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

/** Where the page a token names starts (0 without a token); a token we did not make is refused. */
export function pageOffset(token: string | undefined): number {
  if (token === undefined || token === '') return 0;
  try {
    const o = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown }).o;
    if (typeof o === 'number' && Number.isInteger(o) && o >= 0) return o;
  } catch {
    // refused below
  }
  throw badToken(token);
}

/** The token of the page that starts after the row with this sort key. */
export function keyToken(key: InstanceKey): string {
  return Buffer.from(JSON.stringify({ c: key.createdAt, l: key.launchIndex, i: key.id })).toString(
    'base64url',
  );
}

/** The sort key a token names (undefined without a token); a token we did not make is refused. */
export function tokenKey(token: string | undefined): InstanceKey | undefined {
  if (token === undefined || token === '') return undefined;
  try {
    const k = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    > | null;
    if (
      k &&
      Number.isSafeInteger(k.c) &&
      Number.isSafeInteger(k.l) &&
      typeof k.i === 'string' &&
      k.i.length > 0 &&
      k.i.length <= 64
    ) {
      return { createdAt: k.c as number, launchIndex: k.l as number, id: k.i };
    }
  } catch {
    // refused below
  }
  throw badToken(token);
}

function badToken(token: string) {
  return invalid(`The token '${token.slice(0, 64)}' is not valid.`, {
    resource: 'parameter',
    id: 'NextToken',
  });
}
