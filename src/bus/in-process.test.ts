import { silentLogger } from '../log.js';
import { busSuite } from './bus.suite.js';
import { InProcessBus } from './in-process.js';

busSuite({
  name: 'in-process',
  async pair({ callTimeoutMs }) {
    const bus = new InProcessBus({ logger: silentLogger(), callTimeoutMs });
    return { client: bus, server: bus, server2: bus, close: () => bus.close() };
  },
});
