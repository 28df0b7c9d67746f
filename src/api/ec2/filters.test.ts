// EC2 Filter.N semantics without a cloud: OR within a filter's values, AND across filters,
// the '*' and '?' wildcards (and nothing else) as patterns, tag filters, and unknown names
// refused as invalid parameters.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StratusError } from '../../errors.js';
import {
  applyFilters,
  hasWildcard,
  likePattern,
  matcher,
  type FilterGetter,
  type TagSource,
} from './filters.js';

interface Box {
  id: string;
  state: string;
  zone: string | null;
  cores: number;
  ebs: boolean;
  groups: string[];
  tags: { key: string; value: string }[];
}

const boxes: Box[] = [
  {
    id: 'a',
    state: 'running',
    zone: 'nova',
    cores: 1,
    ebs: true,
    groups: ['web', 'ssh'],
    tags: [{ key: 'Name', value: 'web-1' }],
  },
  {
    id: 'b',
    state: 'stopped',
    zone: 'nova',
    cores: 2,
    ebs: false,
    groups: ['db'],
    tags: [
      { key: 'Name', value: 'db.primary' },
      { key: 'env', value: 'prod' },
    ],
  },
  { id: 'c', state: 'running', zone: null, cores: 4, ebs: false, groups: [], tags: [] },
];

const getters: Record<string, FilterGetter<Box>> = {
  'instance-state-name': (b) => b.state,
  'availability-zone': (b) => b.zone,
  cores: (b) => b.cores,
  ebs: (b) => b.ebs,
  'group-name': (b) => b.groups,
};
const tagSource: TagSource<Box> = { tags: (b) => b.tags };

const ids = (filters: { name: string; values: string[] }[], withTags = true) =>
  applyFilters(boxes, filters, getters, withTags ? tagSource : undefined).map((b) => b.id);

describe('applyFilters', () => {
  it('returns everything, as a new array, without filters', () => {
    const all = applyFilters(boxes, [], getters);
    assert.deepEqual(
      all.map((b) => b.id),
      ['a', 'b', 'c'],
    );
    assert.notEqual(all, boxes);
  });

  it('matches any of a filter’s values, and every filter', () => {
    assert.deepEqual(ids([{ name: 'instance-state-name', values: ['running'] }]), ['a', 'c']);
    assert.deepEqual(ids([{ name: 'instance-state-name', values: ['running', 'stopped'] }]), [
      'a',
      'b',
      'c',
    ]);
    assert.deepEqual(
      ids([
        { name: 'instance-state-name', values: ['running'] },
        { name: 'availability-zone', values: ['nova'] },
      ]),
      ['a'],
    );
  });

  it('matches nothing for a filter with no values', () => {
    assert.deepEqual(ids([{ name: 'instance-state-name', values: [] }]), []);
  });

  it('compares numbers and booleans as EC2 writes them, and multi-valued fields by any value', () => {
    assert.deepEqual(ids([{ name: 'cores', values: ['2', '4'] }]), ['b', 'c']);
    assert.deepEqual(ids([{ name: 'ebs', values: ['true'] }]), ['a']);
    assert.deepEqual(ids([{ name: 'group-name', values: ['ssh'] }]), ['a']);
    assert.deepEqual(ids([{ name: 'group-name', values: ['*'] }]), ['a', 'b']);
  });

  it('never matches a missing value, not even with *', () => {
    assert.deepEqual(ids([{ name: 'availability-zone', values: ['*'] }]), ['a', 'b']);
  });

  it('treats * as any run of characters and ? as exactly one', () => {
    assert.deepEqual(ids([{ name: 'instance-state-name', values: ['run*'] }]), ['a', 'c']);
    assert.deepEqual(ids([{ name: 'instance-state-name', values: ['*opp*'] }]), ['b']);
    assert.deepEqual(ids([{ name: 'instance-state-name', values: ['stoppe?'] }]), ['b']);
    assert.deepEqual(ids([{ name: 'instance-state-name', values: ['stop?'] }]), []);
    assert.deepEqual(ids([{ name: 'instance-state-name', values: ['RUNNING'] }]), []);
  });

  it('takes every other character literally, regular-expression ones included', () => {
    assert.deepEqual(ids([{ name: 'tag:Name', values: ['db.primary'] }]), ['b']);
    assert.deepEqual(ids([{ name: 'tag:Name', values: ['db?primary'] }]), ['b']);
    // '.' is not a wildcard: 'web.1' does not match 'web-1'.
    assert.deepEqual(ids([{ name: 'tag:Name', values: ['web.1'] }]), []);
    assert.deepEqual(ids([{ name: 'tag:Name', values: ['(web|db)*'] }]), []);
    assert.deepEqual(ids([{ name: 'tag:Name', values: ['[w]eb-1'] }]), []);
  });

  it('filters by tag:<key>, tag-key and tag-value', () => {
    assert.deepEqual(ids([{ name: 'tag:Name', values: ['web-*'] }]), ['a']);
    assert.deepEqual(ids([{ name: 'tag:env', values: ['prod'] }]), ['b']);
    assert.deepEqual(ids([{ name: 'tag:nokey', values: ['*'] }]), []);
    assert.deepEqual(ids([{ name: 'tag-key', values: ['env'] }]), ['b']);
    assert.deepEqual(ids([{ name: 'tag-value', values: ['web-1', 'prod'] }]), ['a', 'b']);
  });

  it('refuses an unknown filter name as an invalid Filter parameter', () => {
    for (const name of ['no-such-filter', 'toString', '__proto__', 'constructor']) {
      assert.throws(
        () => ids([{ name, values: ['x'] }]),
        (err: unknown) =>
          err instanceof StratusError &&
          err.kind === 'invalid' &&
          err.resource === 'parameter' &&
          err.id === 'Filter' &&
          err.message === `The filter '${name}' is invalid.`,
        name,
      );
    }
  });

  it('refuses tag filters on resources that have no tags', () => {
    assert.throws(
      () => ids([{ name: 'tag:Name', values: ['web-1'] }], false),
      (err: unknown) => err instanceof StratusError && err.kind === 'invalid',
    );
  });
});

describe('filter values as SQL LIKE patterns', () => {
  it('turns the wildcards into LIKE ones and escapes what LIKE would read as wildcards', () => {
    assert.equal(likePattern('web-*'), 'web-%');
    assert.equal(likePattern('10.0.0.?'), '10.0.0._');
    assert.equal(likePattern('50%_off*'), '50\\%\\_off%');
    assert.equal(likePattern('a\\b*'), 'a\\\\b%');
    assert.ok(hasWildcard('a?') && hasWildcard('*') && !hasWildcard('a%_b'));
  });

  it('selects through LIKE exactly what the filter value matches, up to case', () => {
    const values = ['web-1', 'web-12', 'db-1', 'w%b', 'w_b', 'wxb', 'a\\b', 'WEB-1', ''];
    for (const pattern of ['web-*', 'w?b', 'w%b', '*1', '*', 'a\\b', '?']) {
      const like = likePattern(pattern);
      let source = '';
      for (let i = 0; i < like.length; i++) {
        const c = like[i] as string;
        if (c === '\\') source += (like[++i] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        else
          source += c === '%' ? '.*' : c === '_' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      }
      const likeAccepts = new RegExp(`^${source}$`, 's');
      for (const v of values) {
        assert.equal(likeAccepts.test(v), matcher(pattern)(v), `${pattern} on '${v}'`);
      }
    }
  });
});
