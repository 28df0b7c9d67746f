// Issue 13: a SigV4 request signed for another region (us-west-2) was accepted by a cloud
// serving RegionOne, and a SigV2 request with Expires in 2099 was accepted, so a leaked signed
// URL stayed valid for decades. Both now get EC2's answers, through the real endpoint.
import { DescribeRegionsCommand } from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { failure } from '../support/expect.js';
import { ec2Client, startTestCloud, type TestCloud } from '../support/ec2.js';

describe('issue 13: the signature binds region and lifetime', () => {
  let t: TestCloud;
  before(async () => {
    t = await startTestCloud();
  });
  after(async () => {
    await t.stop();
  });

  it('refuses a SigV4 request signed for another region with AuthFailure, and accepts its own', async () => {
    assert.notEqual(t.region, 'us-west-2');
    const elsewhere = ec2Client(t.endpoint, 'us-west-2', t.adminCredentials);
    try {
      const e = await failure(() => elsewhere.send(new DescribeRegionsCommand({})));
      assert.equal(e.code, 'AuthFailure', e.message);
      assert.equal(e.status, 401);
      assert.match(e.message, /scoped to a valid region, not 'us-west-2'/);
    } finally {
      elsewhere.destroy();
    }
    await t.admin.send(new DescribeRegionsCommand({}));
  });

  it('refuses a SigV2 request whose Expires is in 2099 with RequestExpired', async () => {
    const url = new URL(t.endpoint);
    const sign = (expires: string) => {
      const params: Record<string, string> = {
        Action: 'DescribeRegions',
        Version: '2016-11-15',
        AWSAccessKeyId: t.adminCredentials.accessKeyId,
        SignatureVersion: '2',
        SignatureMethod: 'HmacSHA256',
        Expires: expires,
      };
      const enc = (v: string) =>
        encodeURIComponent(v).replace(
          /[!'()*]/g,
          (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
        );
      const canonical = Object.keys(params)
        .sort()
        .map((k) => `${enc(k)}=${enc(params[k] as string)}`)
        .join('&');
      const signature = createHmac('sha256', t.adminCredentials.secretAccessKey)
        .update(`GET\n${url.host}\n${url.pathname}\n${canonical}`)
        .digest('base64');
      return `${url.origin}${url.pathname}?${canonical}&Signature=${enc(signature)}`;
    };
    const far = await fetch(sign('2099-01-01T00:00:00Z'));
    const body = await far.text();
    assert.equal(far.status, 400, body);
    assert.match(body, /<Code>RequestExpired<\/Code>/);
    // A deadline within the week is still good.
    const soon = await fetch(sign(new Date(Date.now() + 3600_000).toISOString()));
    assert.equal(soon.status, 200, await soon.text());
  });
});
