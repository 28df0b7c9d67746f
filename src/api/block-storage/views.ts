// The Block Storage API's JSON: the versions document, volumes (summary and detail), snapshots
// and volume types, as the API reference describes them at microversion 3.0.
import type { SnapshotRow, VolumeRow } from '../../db/index.js';
import type { VolumeType } from '../../volume/index.js';

export const MIN_VERSION = '3.0';
/**
 * The newest microversion this API implements: 3.27 brought attachments, 3.44 their
 * os-complete. What the microversions between change elsewhere is not served; responses are
 * 3.0's there (each is additive).
 */
export const MAX_VERSION = '3.44';

/** A time as the Block Storage API writes it: ISO 8601 with microseconds, no zone. */
export function volumeTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, -1)}000`;
}

export function versionsView(base: string): Record<string, unknown> {
  return {
    versions: [
      {
        id: 'v3.0',
        status: 'CURRENT',
        version: MAX_VERSION,
        min_version: MIN_VERSION,
        updated: '2016-02-08T12:20:21Z',
        links: [{ rel: 'self', href: `${base}/v3/` }],
        'media-types': [
          { base: 'application/json', type: 'application/vnd.openstack.volume+json;version=3' },
        ],
      },
    ],
  };
}

function links(base: string, v: VolumeRow): { rel: string; href: string }[] {
  return [
    { rel: 'self', href: `${base}/v3/${v.projectId}/volumes/${v.id}` },
    { rel: 'bookmark', href: `${base}/${v.projectId}/volumes/${v.id}` },
  ];
}

export function volumeSummaryView(base: string, v: VolumeRow): Record<string, unknown> {
  return { id: v.id, name: v.name, links: links(base, v) };
}

export function volumeView(
  base: string,
  v: VolumeRow,
  options: { admin: boolean; metadata?: Record<string, string> },
): Record<string, unknown> {
  const attachments = v.instanceId
    ? [
        {
          id: v.id,
          attachment_id: v.id,
          volume_id: v.id,
          server_id: v.instanceId,
          host_name: null,
          device: v.device,
          attached_at: v.attachedAt === null ? null : volumeTime(v.attachedAt),
        },
      ]
    : [];
  return {
    id: v.id,
    name: v.name,
    description: v.description,
    // The domain's statuses are the Block Storage API's own words.
    status: v.status,
    size: v.sizeGb,
    availability_zone: v.availabilityZone,
    created_at: volumeTime(v.createdAt),
    updated_at: volumeTime(v.updatedAt),
    volume_type: v.volumeType,
    snapshot_id: v.snapshotId,
    source_volid: null,
    metadata: options.metadata ?? {},
    links: links(base, v),
    user_id: v.userId,
    // Made from an image (or a snapshot of such a volume): a server can boot from it.
    bootable: v.imageId !== null ? 'true' : 'false',
    ...(v.imageId !== null ? { volume_image_metadata: { image_id: v.imageId } } : {}),
    encrypted: false,
    replication_status: null,
    consistencygroup_id: null,
    multiattach: false,
    attachments,
    ...(options.admin
      ? {
          'os-vol-tenant-attr:tenant_id': v.projectId,
          'os-vol-host-attr:host': v.host,
          'os-vol-mig-status-attr:migstat': null,
          'os-vol-mig-status-attr:name_id': null,
          migration_status: null,
        }
      : {}),
  };
}

/** A volume type's id: a UUID that follows from its name, the same in every process. */
/** A volume type as the API shows it. */
export function volumeTypeView(t: VolumeType): Record<string, unknown> {
  return {
    id: t.id,
    name: t.name,
    description: t.description,
    is_public: t.isPublic,
    'os-volume-type-access:is_public': t.isPublic,
    extra_specs: t.extraSpecs,
    qos_specs_id: null,
  };
}

/** A snapshot as the API shows it (list and show alike); admins see its project and progress. */
export function snapshotView(
  _base: string,
  s: SnapshotRow,
  options: { admin: boolean },
): Record<string, unknown> {
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    // The domain's statuses are the Block Storage API's own words.
    status: s.status,
    size: s.volumeSizeGb,
    volume_id: s.volumeId,
    created_at: volumeTime(s.createdAt),
    updated_at: volumeTime(s.updatedAt),
    metadata: {},
    ...(options.admin
      ? {
          'os-extended-snapshot-attributes:project_id': s.projectId,
          'os-extended-snapshot-attributes:progress': `${s.progress}%`,
        }
      : {}),
  };
}
