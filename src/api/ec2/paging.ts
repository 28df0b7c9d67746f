// EC2's NextToken: an opaque token that holds where the next page starts.
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
  throw invalid(`The token '${token.slice(0, 64)}' is not valid.`, {
    resource: 'parameter',
    id: 'NextToken',
  });
}
