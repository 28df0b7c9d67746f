// `stratus smoke`: runs the scenario `parallel` at a time, `iterations` times over, prints each
// step with its time as it happens, shows the console of a failed scenario's guests, and ends
// with a summary line. Ctrl-C stops waiting and cleans up before exiting.
import { EC2Client } from '@aws-sdk/client-ec2';
import fs from 'node:fs';
import https from 'node:https';
import { junitXml } from './junit.js';
import {
  Scenario,
  type ScenarioOptions,
  type ScenarioResult,
  type StepResult,
} from './scenario.js';

export interface Ec2Endpoint {
  url: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A CA bundle (PEM) to trust the endpoint's HTTPS certificate with (AWS_CA_BUNDLE). */
  caFile?: string;
}

/** The EC2 client the smoke test calls the endpoint with: no retries, the CA bundle trusted. */
export function smokeEc2Client(endpoint: Ec2Endpoint): EC2Client {
  return new EC2Client({
    endpoint: endpoint.url,
    region: endpoint.region,
    credentials: {
      accessKeyId: endpoint.accessKeyId,
      secretAccessKey: endpoint.secretAccessKey,
    },
    // The seed's lesson: retries hide bugs. A failed call is a failed step.
    maxAttempts: 1,
    // The SDK for JavaScript does not read AWS_CA_BUNDLE itself, unlike the CLI and boto3.
    ...(endpoint.caFile
      ? {
          requestHandler: {
            httpsAgent: new https.Agent({ ca: fs.readFileSync(endpoint.caFile), keepAlive: true }),
          },
        }
      : {}),
  });
}

export interface SmokeOptions {
  endpoint: Ec2Endpoint;
  /** What each scenario does; `netns` comes from the list below. */
  scenario: Omit<ScenarioOptions, 'netns'>;
  parallel: number;
  iterations: number;
  /** Network namespaces for the guest-facing part; scenario k uses netns[k % length]. */
  netns: readonly string[];
  junitFile?: string;
  out?: (line: string) => void;
}

export interface SmokeSummary {
  passed: number;
  failed: number;
  results: ScenarioResult[];
  interrupted: boolean;
}

export async function runSmoke(opts: SmokeOptions): Promise<SmokeSummary> {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const ec2 = smokeEc2Client(opts.endpoint);
  const running = new Set<Scenario>();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    out(
      `Received ${signal}: cleaning up what the smoke test made (Ctrl-C again does not skip it).`,
    );
    for (const s of running) s.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const results: ScenarioResult[] = [];
  const width = String(opts.parallel * opts.iterations).length;
  const onStep = (name: string, step: StepResult) => out(formatStep(name, step));
  try {
    for (let it = 0; it < opts.iterations && !interrupted; it++) {
      const batch = Array.from({ length: opts.parallel }, (_, p) => {
        const k = it * opts.parallel + p;
        const name = `smoke-${String(k + 1).padStart(width, '0')}`;
        const netns = opts.netns.length > 0 ? opts.netns[k % opts.netns.length] : undefined;
        const scenario = new Scenario(
          ec2,
          name,
          { ...opts.scenario, ...(netns ? { netns } : {}) },
          onStep,
        );
        running.add(scenario);
        if (interrupted) scenario.abort();
        return scenario.run().finally(() => running.delete(scenario));
      });
      for (const r of await Promise.all(batch)) {
        results.push(r);
        out(formatResult(r));
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    ec2.destroy();
  }
  const passed = results.filter((r) => r.passed).length;
  const failed = results.length - passed;
  if (opts.junitFile) fs.writeFileSync(opts.junitFile, junitXml(results));
  out(`${passed} passed, ${failed} failed${interrupted ? ' (interrupted)' : ''}`);
  return { passed, failed, results, interrupted };
}

function formatStep(name: string, step: StepResult): string {
  const time = `${(step.ms / 1000).toFixed(2)} s`.padStart(9);
  const status = step.error ? `FAILED ${step.error}` : `ok${step.detail ? `  ${step.detail}` : ''}`;
  return `[${name}] ${step.name.padEnd(22)}${time}  ${status}`;
}

function formatResult(r: ScenarioResult): string {
  const lines = [`[${r.name}] ${r.passed ? 'PASSED' : 'FAILED'} in ${(r.ms / 1000).toFixed(1)} s`];
  for (const l of r.leftovers) lines.push(`[${r.name}] left behind: ${l}`);
  for (const c of r.consoles) {
    lines.push(`[${r.name}] ---- console output of ${c.instanceId} ----`);
    lines.push(c.output.trimEnd() || '(empty)');
    lines.push(`[${r.name}] ---- end of console output of ${c.instanceId} ----`);
  }
  return lines.join('\n');
}
