// The fake driver against the virt driver conformance suite.
import { driverSuite } from '../driver.suite.js';
import { FakeDriver } from './fake-driver.js';

driverSuite('fake', async () => ({
  driver: new FakeDriver(),
  spec: (instanceId) => ({
    instanceId,
    name: 'fake',
    vcpus: 1,
    memoryMb: 128,
    diskGb: 1,
    imageId: 'image',
  }),
}));
