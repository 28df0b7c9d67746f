// What an EC2 action is: a function from a parsed, authenticated request to the body of its
// XML response. Each action group (one file under actions/) returns a table of them.
import type { RequestContext } from '../../context.js';
import type { Params } from './params.js';
import type { XmlObject } from './xml.js';

export interface Ec2Request {
  action: string;
  requestId: string;
  params: Params;
  context: RequestContext;
  /** The region this endpoint serves. */
  region: string;
  /** Where the request reached this endpoint: its Host header (`host:port`). */
  endpoint: string;
}

export type Ec2Action = (request: Ec2Request) => Promise<XmlObject>;

export type Ec2ActionTable = Readonly<Record<string, Ec2Action>>;

/**
 * Whether an action only reads: EC2's `Describe*` and `Get*` (console output, screenshot,
 * password data), what AWS's read-only access grants. Every other action changes something
 * and is refused for a caller that may only read (`mayChange`).
 */
export function isReadOnlyAction(action: string): boolean {
  return /^(Describe|Get)[A-Z]/.test(action);
}
