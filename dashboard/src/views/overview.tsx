// The project at a glance: quota usage as bars, and how many of each thing it has.
import { call, compute } from '../api.js';
import type { Server } from '../types.js';
import { Bar, LoadError, Page, useLoad } from './common.js';

interface Limits {
  limits: { absolute: Record<string, number> };
}

export function Overview({ servers }: { servers: Server[] | undefined }) {
  const limits = useLoad(() => compute<Limits>('limits'));
  const counts = useLoad(async () => {
    const [images, keypairs, volumes] = await Promise.all([
      call<{ images: unknown[] }>('image/v2/images'),
      compute<{ keypairs: unknown[] }>('os-keypairs'),
      call<{ volumes: unknown[] }>('volume/volumes').catch(() => ({ volumes: [] })),
    ]);
    return {
      images: images.images.length,
      keypairs: keypairs.keypairs.length,
      volumes: volumes.volumes.length,
    };
  });
  const a = limits.data?.limits.absolute;
  const n = (k: string) => a?.[k] ?? 0;
  return (
    <Page title="Overview">
      <LoadError error={limits.error ?? counts.error} />
      <h2>Quota usage</h2>
      {a ? (
        <div class="bars">
          <Bar label="Instances" used={n('totalInstancesUsed')} limit={n('maxTotalInstances')} />
          <Bar label="vCPUs" used={n('totalCoresUsed')} limit={n('maxTotalCores')} />
          <Bar label="RAM (MiB)" used={n('totalRAMUsed')} limit={n('maxTotalRAMSize')} />
          <Bar
            label="Floating IPs"
            used={n('totalFloatingIpsUsed')}
            limit={n('maxTotalFloatingIps')}
          />
          <Bar
            label="Security groups"
            used={n('totalSecurityGroupsUsed')}
            limit={n('maxSecurityGroups')}
          />
          <Bar label="Key pairs" used={counts.data?.keypairs ?? 0} limit={n('maxTotalKeypairs')} />
        </div>
      ) : (
        <p>Loading…</p>
      )}
      <h2>Counts</h2>
      <dl class="counts">
        <div>
          <dt>Instances</dt>
          <dd data-testid="count-instances">{servers?.length ?? '…'}</dd>
        </div>
        <div>
          <dt>Running</dt>
          <dd>{servers?.filter((s) => s.status === 'ACTIVE').length ?? '…'}</dd>
        </div>
        <div>
          <dt>Images</dt>
          <dd>{counts.data?.images ?? '…'}</dd>
        </div>
        <div>
          <dt>Key pairs</dt>
          <dd>{counts.data?.keypairs ?? '…'}</dd>
        </div>
        <div>
          <dt>Volumes</dt>
          <dd>{counts.data?.volumes ?? '…'}</dd>
        </div>
      </dl>
    </Page>
  );
}
