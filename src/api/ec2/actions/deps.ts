// What every action group may build its services from.
import type { Bus } from '../../../bus/index.js';
import type { Config } from '../../../config/index.js';
import type { Db } from '../../../db/index.js';
import type { Logger } from '../../../log.js';

export interface Ec2Deps {
  db: Db;
  bus: Bus;
  config: Config;
  logger: Logger;
}
