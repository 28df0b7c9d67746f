// Public surface of smoke: the cloud's own end-to-end check, `stratus smoke`.
export {
  runSmoke,
  smokeEc2Client,
  type Ec2Endpoint,
  type SmokeOptions,
  type SmokeSummary,
} from './runner.js';
export type { ScenarioResult, StepResult } from './scenario.js';
export { junitXml } from './junit.js';
