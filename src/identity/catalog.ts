// The service catalog: where each API of the cloud listens, per region and interface, as tokens
// carry it. The api service publishes its own endpoints when it starts.
import { EndpointRepo, now, type Db } from '../db/index.js';

/** One service type's endpoints. */
export interface CatalogEntry {
  /** 'identity', 'ec2', 'compute', ... */
  type: string;
  endpoints: { interface: string; region: string; url: string }[];
}

export class Catalog {
  readonly #endpoints: EndpointRepo;

  constructor(db: Db) {
    this.#endpoints = new EndpointRepo(db);
  }

  /** Every endpoint, one entry per service type. */
  async entries(): Promise<CatalogEntry[]> {
    const byType = new Map<string, CatalogEntry>();
    for (const r of await this.#endpoints.list()) {
      const entry = byType.get(r.serviceType) ?? { type: r.serviceType, endpoints: [] };
      entry.endpoints.push({ interface: r.interface, region: r.region, url: r.url });
      byType.set(r.serviceType, entry);
    }
    return [...byType.values()];
  }

  /** Records (or replaces) the public URL of a service type in a region. */
  async publish(serviceType: string, region: string, url: string): Promise<void> {
    await this.#endpoints.put({
      serviceType,
      interface: 'public',
      region,
      url,
      updatedAt: now(),
    });
  }
}
