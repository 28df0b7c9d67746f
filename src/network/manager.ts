// The network manager: IP address management and rule sets (grows with the network issue).
import { dispatch, type ProtocolHandlers } from '../bus/index.js';
import { now } from '../db/index.js';
import type { Service } from '../service/index.js';
import { VERSION } from '../version.js';
import { NETWORK_TOPIC, type NetworkProtocol } from './client.js';

export class NetworkManager implements ProtocolHandlers<NetworkProtocol> {
  readonly #startedAt = now();

  constructor(private readonly options: { host: string }) {}

  service(): Service {
    return {
      binary: 'network',
      topics: [
        {
          topic: NETWORK_TOPIC,
          handler: dispatch<NetworkProtocol>(NETWORK_TOPIC, { status: () => this.status() }),
        },
      ],
    };
  }

  async status(): Promise<NetworkProtocol['status']['result']> {
    return {
      binary: 'network',
      host: this.options.host,
      startedAt: this.#startedAt,
      version: VERSION,
      details: {},
    };
  }
}
