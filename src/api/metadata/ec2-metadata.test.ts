// The EC2 metadata files of an instance: ids in EC2 form, the key, decoded user data.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InstanceRow } from '../../db/index.js';
import { ec2MetadataFiles } from './ec2-metadata.js';

const inst = {
  id: '0123abcd-4567-89ef-0123-456789abcdef',
  reservationId: 'aaaabbbb-cccc-dddd-eeee-ffff00001111',
  imageId: '99998888-7777-6666-5555-444433332222',
  kernelId: null,
  ramdiskId: null,
  keyData: 'ssh-ed25519 AAAAC3Nza test\n',
  userData: Buffer.from('#!/bin/sh\necho hi\n').toString('base64'),
  privateIp: '10.20.0.5',
  macAddress: 'fa:16:3e:00:00:01',
  launchIndex: 0,
} as unknown as InstanceRow;

describe('EC2 metadata files', () => {
  it('names the instance by its EC2 id and carries its key and user data', () => {
    const f = ec2MetadataFiles(inst, { region: 'RegionOne', availabilityZone: 'regiononea' });
    assert.equal(f['/latest/meta-data/instance-id'], 'i-0123abcd456789ef0');
    assert.equal(f['/latest/meta-data/ami-id'], 'ami-99998888777766665');
    assert.equal(
      f['/latest/meta-data/local-hostname'],
      'i-0123abcd456789ef0.regionone.compute.internal',
    );
    assert.equal(f['/latest/meta-data/public-keys/0/openssh-key'], 'ssh-ed25519 AAAAC3Nza test\n');
    assert.equal(f['/latest/user-data'], '#!/bin/sh\necho hi\n');
    assert.equal(f['/latest/meta-data/local-ipv4'], '10.20.0.5');
    assert.equal(f['/latest/meta-data/kernel-id'], undefined);
  });

  it('leaves out the key and user data when the instance has none', () => {
    const f = ec2MetadataFiles(
      { ...inst, keyData: null, userData: null },
      { region: 'r', availabilityZone: 'ra' },
    );
    assert.equal('/latest/user-data' in f, false);
    assert.equal('/latest/meta-data/public-keys/0/openssh-key' in f, false);
  });
});
