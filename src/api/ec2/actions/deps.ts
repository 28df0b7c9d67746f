// What every action group is built from: the domain services main built, and the configuration.
import type { Config } from '../../../config/index.js';
import type { ApiServices } from '../../services.js';

export type Ec2Deps = ApiServices & { config: Config };
