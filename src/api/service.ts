// The api service: the HTTP front ends of this process (EC2, Identity, Image, Compute, status)
// over the domain services main built, and the catalog entries that say where they listen;
// it also takes over launches that an api process recorded but never handed to a host.
import type { FastifyInstance } from 'fastify';
import type { Config, Listen } from '../config/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/index.js';
import type { Service } from '../service/index.js';
import { ec2Actions } from './ec2/actions/index.js';
import { createComputeServer } from './openstack-compute/compute-server.js';
import { createEc2Server } from './ec2/ec2-server.js';
import { createIdentityServer } from './identity/identity-server.js';
import { createImageServer } from './image/image-server.js';
import { createBlockStorageServer } from './block-storage/block-storage-server.js';
import { createNetworkingServer } from './networking/networking-server.js';
import { ConsoleTokens } from './console-tokens.js';
import { builtAssetsDir, createDashboardServer } from './dashboard/dashboard-server.js';
import { listen, replaceCertificate } from './http.js';
import type { ApiServices } from './services.js';
import { createStatusServer } from './status/status-server.js';
import { readTls, tlsStamp, type TlsMaterial } from './tls.js';

export interface ApiServiceOptions {
  config: Config;
  /** The domain services every edge calls, built by main. */
  services: ApiServices;
  logger: Logger;
  metrics: Metrics;
  localServices: readonly { host: string; binary: string }[];
  /** The listeners' certificate and key, read and checked (readTls) before anything started. */
  tls?: TlsMaterial | undefined;
}

/** The URLs the APIs really listen on, known once the service started. */
export interface ApiUrls {
  ec2: string;
  status: string;
  identity: string;
  /** The Image API's endpoint (no version in it: clients discover /v2 from it). */
  image: string;
  /** The Compute API's catalog URL, `<listen-url>/v2.1`. */
  compute: string;
  /** The Block Storage API's catalog URL, `<listen-url>/v3`. */
  volume: string;
  /** The Networking API's catalog URL (no version in it: clients discover /v2.0 from it). */
  network: string;
  /** The web dashboard, `<listen-url>/`. */
  dashboard: string;
}

export class ApiService {
  readonly #opts: ApiServiceOptions;
  readonly #servers: FastifyInstance[] = [];
  #urls: ApiUrls | undefined;
  #tls: TlsMaterial | undefined;
  /** The files' stamp last looked at, served or refused. */
  #tlsSeen: string | undefined;

  constructor(options: ApiServiceOptions) {
    this.#opts = options;
    this.#tls = options.tls;
    this.#tlsSeen = options.tls?.stamp;
  }

  get urls(): ApiUrls {
    if (!this.#urls) throw new Error('The api service has not started.');
    return this.#urls;
  }

  service(): Service {
    const { config, services } = this.#opts;
    return {
      binary: 'api',
      topics: [],
      periodicTasks: [
        {
          // Dashboard sessions and console URLs that expired unused (any api process may).
          name: 'expire-web-sessions',
          intervalMs: 60_000,
          run: async () => {
            await services.webSessions.deleteExpired();
            await services.consoleGrants.deleteExpired();
          },
        },
        {
          // Launches this side recorded but never handed to a host (issue 13): the api
          // process that made them died. Any api process may take them over.
          name: 'reconcile-unplaced',
          intervalMs: config.compute.reconcileIntervalSeconds * 1000,
          run: async (ctx) => {
            await services.instances.reconcileUnplaced(ctx);
          },
        },
        ...(config.api.tls
          ? [
              {
                // A certificate renewed on disk (certbot, an internal CA) is served to new
                // connections without a restart.
                name: 'reload-tls-certificate',
                intervalMs: config.api.tlsReloadSeconds * 1000,
                run: async () => this.#reloadTls(),
              },
            ]
          : []),
      ],
      start: () => this.#start(),
      stop: () => this.#stop(),
    };
  }

  async #start(): Promise<void> {
    const { config, services, logger, metrics } = this.#opts;
    const { identity, tokens, catalog } = services;
    // main reads it before anything starts; read here too if it did not.
    if (config.api.tls && !this.#tls) {
      this.#tls = readTls(config.api.tls);
      this.#tlsSeen = this.#tls.stamp;
    }
    const tls = this.#tls;
    if (tls) this.#warnIfExpired(tls);
    const ec2 = createEc2Server({
      logger,
      metrics,
      tls,
      region: config.region,
      actions: ec2Actions({ ...services, config }),
      findPrincipal: (accessKey) => identity.findEc2Principal(accessKey),
      identityGeneration: () => identity.identityGeneration(),
    });
    const identityApi = createIdentityServer({
      logger,
      metrics,
      tls,
      tokens,
      catalog: () => catalog.entries(),
      identity,
    });
    const imageApi = createImageServer({
      logger,
      metrics,
      tls,
      tokens,
      images: services.images,
    });
    const consoles = new ConsoleTokens({
      grants: services.consoleGrants,
      instances: services.instances,
      baseUrl: () => this.urls.dashboard,
    });
    const computeApi = createComputeServer({ logger, metrics, tls, services, consoles });
    const volumeApi = createBlockStorageServer({ logger, metrics, tls, services });
    const networkApi = createNetworkingServer({ logger, metrics, tls, services });
    const dashboard = createDashboardServer({
      logger,
      metrics,
      tls,
      assetsDir: builtAssetsDir(),
      consoles,
      sessions: services.webSessions,
      cookieSecret: await services.webSessions.cookieKey(),
      endpoints: () => this.urls,
    });
    const status = createStatusServer({
      health: services.health,
      logger,
      metrics,
      tls,
      localServices: this.#opts.localServices,
    });
    const start = async (app: FastifyInstance, at: Listen): Promise<string> => {
      const url = await listen(app, at.host, at.port, config.api.idleTimeoutSeconds * 1000);
      this.#servers.push(app);
      return url;
    };
    try {
      const { api } = config;
      this.#urls = {
        ec2: `${await start(ec2, api.ec2Listen)}/`,
        status: await start(status, api.statusListen),
        identity: `${await start(identityApi, api.identityListen)}/v3`,
        image: await start(imageApi, api.imageListen),
        compute: `${await start(computeApi, api.computeListen)}/v2.1`,
        volume: `${await start(volumeApi, api.volumeListen)}/v3`,
        network: await start(networkApi, api.networkListen),
        dashboard: `${await start(dashboard, api.dashboardListen)}/`,
      };
    } catch (err) {
      await this.#stop();
      throw err;
    }
    for (const [serviceType, url] of [
      ['ec2', this.#urls.ec2],
      ['identity', this.#urls.identity],
      ['image', this.#urls.image],
      ['compute', this.#urls.compute],
      // Clients look the Block Storage API up by either name (openstackclient: volumev3).
      ['volumev3', this.#urls.volume],
      ['block-storage', this.#urls.volume],
      ['network', this.#urls.network],
      ['dashboard', this.#urls.dashboard],
    ] as const) {
      await catalog.publish(serviceType, config.region, url);
    }
  }

  /** Serves the certificate and key files anew if they changed and check out. */
  #reloadTls(): void {
    const files = this.#opts.config.api.tls;
    if (!files || !this.#tls) return;
    const stamp = tlsStamp(files);
    if (stamp === this.#tlsSeen) return;
    this.#tlsSeen = stamp;
    let material: TlsMaterial;
    try {
      material = readTls(files);
    } catch (err) {
      // Often a moment between writing the certificate and its key: the next change retries.
      this.#opts.logger.warn(
        { err, cert: files.certFile, key: files.keyFile },
        'the changed TLS certificate or key is not usable; still serving the previous one',
      );
      return;
    }
    this.#warnIfExpired(material);
    for (const app of this.#servers) replaceCertificate(app, material);
    this.#tls = material;
    this.#tlsSeen = material.stamp;
    this.#opts.logger.info(
      { cert: files.certFile, key: files.keyFile },
      'serving the renewed TLS certificate',
    );
  }

  /** Clients refuse an expired certificate: say so in the log, the likely first place looked. */
  #warnIfExpired(material: TlsMaterial): void {
    if (material.notAfter.getTime() > Date.now()) return;
    this.#opts.logger.warn(
      { cert: this.#opts.config.api.tls?.certFile, notAfter: material.notAfter.toISOString() },
      'the TLS certificate has expired: clients will refuse it',
    );
  }

  async #stop(): Promise<void> {
    while (this.#servers.length > 0) await (this.#servers.pop() as FastifyInstance).close();
  }
}
