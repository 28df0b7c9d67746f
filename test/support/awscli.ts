// Test support: the AWS CLI (`/usr/bin/aws`, Debian's awscli) pointed at a test cloud's EC2
// endpoint with one project's keys, its own HOME and nothing from the machine's AWS config.
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';

export const AWS_CLI = '/usr/bin/aws';

export interface AwsCliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface AwsCliTarget {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** A directory of the test's own, for the CLI's cache. */
  home: string;
}

export interface AwsEc2Cli {
  /** `aws ec2 ARGS...` with JSON output: its exit code and output, whatever they are. */
  run(...args: string[]): Promise<AwsCliResult>;
  /** The same, which must succeed: its JSON answer ({} when it prints nothing). */
  json(...args: string[]): Promise<Record<string, unknown>>;
}

export function awsEc2(target: AwsCliTarget): AwsEc2Cli {
  const run = (...args: string[]) =>
    new Promise<AwsCliResult>((resolve) => {
      execFile(
        AWS_CLI,
        ['ec2', '--endpoint-url', target.endpoint, '--output', 'json', ...args],
        {
          env: {
            PATH: process.env.PATH,
            HOME: target.home,
            AWS_ACCESS_KEY_ID: target.credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: target.credentials.secretAccessKey,
            AWS_DEFAULT_REGION: target.region,
            AWS_PAGER: '',
            AWS_EC2_METADATA_DISABLED: 'true',
          },
          timeout: 60_000,
        },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
    });
  const json = async (...args: string[]) => {
    const r = await run(...args);
    assert.equal(r.code, 0, `aws ec2 ${args.join(' ')}: ${r.stderr}`);
    return (r.stdout.trim() ? JSON.parse(r.stdout) : {}) as Record<string, unknown>;
  };
  return { run, json };
}
