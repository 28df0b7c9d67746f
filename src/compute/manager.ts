// The compute manager: runs on each host and owns the VMs there through a virt driver.
import { dispatch, hostTopic, type ProtocolHandlers } from '../bus/index.js';
import { now } from '../db/index.js';
import type { Logger } from '../log.js';
import type { Service } from '../service/index.js';
import type { VirtDriver } from '../virt/index.js';
import { VERSION } from '../version.js';
import type { ComputeProtocol, HostDescription } from './client.js';

export interface ComputeOptions {
  host: string;
  driver: VirtDriver;
  logger: Logger;
}

export class ComputeManager implements ProtocolHandlers<ComputeProtocol> {
  readonly #opts: ComputeOptions;
  readonly #startedAt = now();

  constructor(options: ComputeOptions) {
    this.#opts = options;
  }

  service(): Service {
    const topic = hostTopic('compute', this.#opts.host);
    return {
      binary: 'compute',
      topics: [
        {
          topic,
          handler: dispatch<ComputeProtocol>(topic, {
            status: () => this.status(),
            describeHost: () => this.describeHost(),
          }),
          fanout: true,
        },
      ],
      start: async () => {
        const adopted = await this.#opts.driver.init();
        this.#opts.logger.info(
          { driver: this.#opts.driver.name, adopted: adopted.length },
          'virt driver ready',
        );
      },
      stop: () => this.#opts.driver.close(),
    };
  }

  async status(): Promise<ComputeProtocol['status']['result']> {
    return {
      binary: 'compute',
      host: this.#opts.host,
      startedAt: this.#startedAt,
      version: VERSION,
      details: { driver: this.#opts.driver.name, ...this.#opts.driver.capabilities },
    };
  }

  async describeHost(): Promise<HostDescription> {
    const d = this.#opts.driver;
    const [capacity, guests] = await Promise.all([d.capacity(), d.list()]);
    return {
      host: this.#opts.host,
      driver: d.name,
      capabilities: d.capabilities,
      capacity,
      instances: guests.length,
    };
  }
}
