// Public surface of the config module.
export {
  loadConfig,
  envName,
  type Config,
  type ConfigSources,
  type Listen,
  type TlsFiles,
} from './config.js';
export { OPTIONS, type OptionSpec } from './options.js';
