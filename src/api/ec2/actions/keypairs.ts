// Key pair actions: CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair.
import type { KeypairRow } from '../../../db/index.js';
import { notFound } from '../../../errors.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { ec2Id, parseEc2Id } from '../../../ids/index.js';
import { invalidValue, missingParameter, type Params } from '../params.js';
import { ec2Time } from '../xml.js';
import { checkTags } from './instances.js';
import type { Ec2Deps } from './deps.js';

/** Largest public key file ImportKeyPair takes. */
const MAX_MATERIAL = 16 * 1024;

export function keypairActions({ keypairs, tags }: Ec2Deps): Ec2ActionTable {
  const tagsFor = (params: Params) => {
    const list = params
      .tagSpecifications()
      .filter((s) => {
        if (s.resourceType !== 'key-pair')
          throw invalidValue(
            'TagSpecification.ResourceType',
            s.resourceType,
            "It must be 'key-pair'.",
          );
        return true;
      })
      .flatMap((s) => s.tags);
    checkTags(list);
    return list;
  };
  const tagSet = async (row: KeypairRow) =>
    ((await tags.of([row.id])).get(row.id) ?? []).map((t) => ({ key: t.key, value: t.value }));

  return {
    CreateKeyPair: async ({ params, context }) => {
      const name = params.requireString('KeyName', { max: 255 });
      const keyType = params.enumOf('KeyType', ['rsa', 'ed25519'] as const) ?? 'rsa';
      const format = params.enumOf('KeyFormat', ['pem', 'ppk'] as const) ?? 'pem';
      const { keypair, privateKey } = await keypairs.create(context, {
        name,
        keyType,
        format,
        tags: tagsFor(params),
      });
      return {
        keyName: keypair.name,
        keyFingerprint: keypair.fingerprint,
        keyMaterial: privateKey,
        keyPairId: ec2Id('key', keypair.id),
        tagSet: await tagSet(keypair),
      };
    },

    ImportKeyPair: async ({ params, context }) => {
      const name = params.requireString('KeyName', { max: 255 });
      const encoded = params.requireString('PublicKeyMaterial', {
        max: (MAX_MATERIAL * 4) / 3 + 4,
      });
      if (!/^[A-Za-z0-9+/\s]*={0,2}$/.test(encoded)) {
        throw invalidValue('PublicKeyMaterial', encoded, 'It must be base64-encoded.');
      }
      const keypair = await keypairs.import(context, {
        name,
        material: Buffer.from(encoded, 'base64'),
        tags: tagsFor(params),
      });
      return {
        keyName: keypair.name,
        keyFingerprint: keypair.fingerprint,
        keyPairId: ec2Id('key', keypair.id),
        tagSet: await tagSet(keypair),
      };
    },

    DescribeKeyPairs: async ({ params, context }) => {
      const names = params.list('KeyName');
      const shownIds = params.list('KeyPairId');
      const idPrefixes = shownIds.map((id) => parseEc2Id(id, ['key'], 'keypair').uuidPrefix);
      const includePublicKey = params.bool('IncludePublicKey') ?? false;
      const rows = await keypairs.list(context, { names, idPrefixes });
      for (const name of names) {
        if (!rows.some((r) => r.name === name))
          throw notFound('keypair', name, `The key pair '${name}' does not exist`);
      }
      for (const [i, id] of shownIds.entries()) {
        if (!rows.some((r) => r.id.startsWith(idPrefixes[i] as string))) {
          throw notFound('keypair', id, `The key pair ID '${id}' does not exist`);
        }
      }
      const tagMap = await tags.of(rows.map((r) => r.id));
      const tagList = (r: KeypairRow) =>
        (tagMap.get(r.id) ?? []).map((t) => ({ key: t.key, value: t.value }));
      const matched = applyFilters(
        rows,
        params.filters(),
        {
          'key-name': (r) => r.name,
          'key-pair-id': (r) => ec2Id('key', r.id),
          fingerprint: (r) => r.fingerprint,
          'key-type': (r) => r.keyType,
        },
        { tags: tagList },
      );
      return {
        keySet: matched.map((r) => ({
          keyPairId: ec2Id('key', r.id),
          keyName: r.name,
          keyFingerprint: r.fingerprint,
          keyType: r.keyType,
          tagSet: tagList(r),
          publicKey: includePublicKey ? r.publicKey : undefined,
          createTime: ec2Time(r.createdAt),
        })),
      };
    },

    DeleteKeyPair: async ({ params, context }) => {
      const name = params.string('KeyName', { max: 255 });
      const id = params.string('KeyPairId', { max: 64 });
      if (name === undefined && id === undefined) throw missingParameter('KeyName');
      await keypairs.delete(
        context,
        name !== undefined
          ? { name }
          : { idPrefix: parseEc2Id(id as string, ['key'], 'keypair').uuidPrefix },
      );
      return { return: true };
    },
  };
}
