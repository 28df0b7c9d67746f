// Adds the config options to a command and reads them back as raw flag values.
import { Command, Option } from 'commander';
import { envName, loadConfig, OPTIONS, type Config } from '../config/index.js';

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

export function addConfigOptions(cmd: Command): Command {
  cmd.addOption(new Option('--config <file>', 'TOML config file (env STRATUS_CONFIG).'));
  for (const spec of OPTIONS) {
    const option = new Option(`--${spec.flag} <value>`, `${spec.help} (env ${envName(spec)})`);
    if (spec.choices) option.choices(spec.choices);
    cmd.addOption(option);
  }
  return cmd;
}

/** Loads the config from the command's flags (and its parents'), the environment and the file. */
export function configFrom(cmd: Command, env: NodeJS.ProcessEnv = process.env): Config {
  const opts = cmd.optsWithGlobals() as Record<string, string | undefined>;
  const flags: Record<string, string | undefined> = { config: opts.config };
  for (const spec of OPTIONS) flags[spec.flag] = opts[camel(spec.flag)];
  return loadConfig({ flags, env });
}
