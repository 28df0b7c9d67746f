// PLACEHOLDER: being written now; returns no actions yet.
import type { Ec2ActionTable } from '../action.js';
import type { Ec2Deps } from './deps.js';

export function imageActions(deps: Ec2Deps): Ec2ActionTable {
  void deps;
  return {};
}
