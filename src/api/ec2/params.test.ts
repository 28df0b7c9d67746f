// EC2 Query parameters without a cloud: flattened lists and structures read back in numeric
// order, typed values checked, and every refusal a MissingParameter ('missing') or an
// InvalidParameterValue ('invalid') naming the parameter with its full path.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StratusError, type ErrorKind } from '../../errors.js';
import { pageOffset, pageToken } from './paging.js';
import { Params } from './params.js';

/** Asserts `f` throws a parameter error of `kind` about parameter `id`. */
function refuses(f: () => unknown, kind: ErrorKind, id: string, message?: RegExp): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof StratusError, `expected a StratusError, got ${String(err)}`);
    assert.equal(err.kind, kind);
    assert.equal(err.resource, 'parameter');
    assert.equal(err.id, id);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('Params: single values', () => {
  const p = new Params({ Name: 'web', Empty: '', Count: '42', Neg: '-3', Flag: 'TRUE' });

  it('tells which parameters are present, including flattened ones', () => {
    const q = new Params({ 'InstanceId.1': 'i-1', Name: 'x' });
    assert.equal(q.has('InstanceId'), true);
    assert.equal(q.has('Name'), true);
    assert.equal(q.has('Instance'), false);
    assert.equal(q.has('Other'), false);
  });

  it('reads strings, and undefined when absent', () => {
    assert.equal(p.string('Name'), 'web');
    assert.equal(p.string('Empty'), '');
    assert.equal(p.string('Nope'), undefined);
  });

  it('refuses a string over its length or outside its pattern', () => {
    refuses(() => p.string('Name', { max: 2 }), 'invalid', 'Name', /at most 2 characters/);
    refuses(
      () => p.string('Name', { pattern: /^\d+$/, patternHelp: 'Digits only.' }),
      'invalid',
      'Name',
      /^Value \(web\) for parameter Name is invalid\. Digits only\.$/,
    );
    refuses(() => new Params({ Big: 'x'.repeat(4097) }).string('Big'), 'invalid', 'Big');
    assert.equal(new Params({ Big: 'x'.repeat(4096) }).string('Big')?.length, 4096);
  });

  it('shows at most 64 characters of a refused value', () => {
    assert.throws(
      () => new Params({ Long: 'y'.repeat(300) }).string('Long', { max: 10 }),
      (err: unknown) =>
        err instanceof StratusError && err.message.includes(`(${'y'.repeat(64)}...)`),
    );
  });

  it('requires a non-empty string where one is required', () => {
    assert.equal(p.requireString('Name'), 'web');
    refuses(() => p.requireString('Nope'), 'missing', 'Nope', /must contain the parameter Nope/);
    refuses(() => p.requireString('Empty'), 'missing', 'Empty');
  });

  it('reads whole numbers within bounds and refuses the rest', () => {
    assert.equal(p.int('Count'), 42);
    assert.equal(p.int('Neg'), -3);
    assert.equal(p.int('Nope'), undefined);
    assert.equal(p.int('Count', { min: 42, max: 42 }), 42);
    refuses(() => p.int('Count', { max: 41 }), 'invalid', 'Count', /at most 41/);
    refuses(() => p.int('Neg', { min: 0 }), 'invalid', 'Neg', /at least 0/);
    for (const bad of ['1.5', '1e3', '', ' 1', '0x10', '+1', '1234567890123456', 'NaN']) {
      refuses(() => new Params({ N: bad }).int('N'), 'invalid', 'N', /whole number/);
    }
  });

  it('reads true and false in any case, and nothing else', () => {
    assert.equal(p.bool('Flag'), true);
    assert.equal(new Params({ F: 'false' }).bool('F'), false);
    assert.equal(p.bool('Nope'), undefined);
    for (const bad of ['1', 'yes', '', 'truee']) {
      refuses(() => new Params({ F: bad }).bool('F'), 'invalid', 'F', /true or false/);
    }
  });

  it('reads one of a set of choices, case and all', () => {
    const q = new Params({ Type: 'rsa', Bad: 'RSA' });
    assert.equal(q.enumOf('Type', ['rsa', 'ed25519']), 'rsa');
    assert.equal(q.enumOf('Nope', ['rsa']), undefined);
    refuses(() => q.enumOf('Bad', ['rsa', 'ed25519']), 'invalid', 'Bad', /one of: rsa, ed25519/);
  });
});

describe('Params: lists and structures', () => {
  it('reads Name.N in numeric order, not text order, with a bare Name first', () => {
    const p = new Params({
      'InstanceId.10': 'ten',
      'InstanceId.2': 'two',
      'InstanceId.1': 'one',
      InstanceId: 'bare',
      'InstanceId.x': 'ignored',
      'InstanceIdX.1': 'other parameter',
    });
    assert.deepEqual(p.list('InstanceId'), ['bare', 'one', 'two', 'ten']);
    assert.deepEqual(p.list('Nope'), []);
  });

  it('refuses more than 1000 values in one list, not truncating them', () => {
    const raw: Record<string, string> = {};
    for (let i = 1; i <= 1000; i++) raw[`Id.${i}`] = `v${i}`;
    assert.equal(new Params(raw).list('Id').length, 1000);
    raw['Id.1001'] = 'one too many';
    refuses(() => new Params(raw).list('Id'), 'invalid', 'Id', /At most 1000 values/);
  });

  it('reads Name.N.Field as one Params per N, in numeric order, with full paths in errors', () => {
    const p = new Params({
      'IpPermissions.2.IpProtocol': 'udp',
      'IpPermissions.1.IpProtocol': 'tcp',
      'IpPermissions.1.FromPort': '22',
      'IpPermissions.1.IpRanges.1.CidrIp': '10.0.0.0/8',
      'IpPermissions.2.FromPort': 'many',
    });
    const perms = p.structs('IpPermissions');
    assert.deepEqual(
      perms.map((x) => x.string('IpProtocol')),
      ['tcp', 'udp'],
    );
    assert.equal(perms[0]?.int('FromPort'), 22);
    assert.deepEqual(
      perms[0]?.structs('IpRanges').map((r) => r.string('CidrIp')),
      ['10.0.0.0/8'],
    );
    refuses(() => perms[1]?.int('FromPort'), 'invalid', 'IpPermissions.2.FromPort');
    refuses(() => perms[1]?.requireString('ToPort'), 'missing', 'IpPermissions.2.ToPort');
  });

  it('reads filters, requiring each one’s name', () => {
    const p = new Params({
      'Filter.1.Name': 'instance-state-name',
      'Filter.1.Value.1': 'running',
      'Filter.1.Value.2': 'stopped',
      'Filter.2.Name': 'tag:Name',
    });
    assert.deepEqual(p.filters(), [
      { name: 'instance-state-name', values: ['running', 'stopped'] },
      { name: 'tag:Name', values: [] },
    ]);
    refuses(() => new Params({ 'Filter.1.Value.1': 'x' }).filters(), 'missing', 'Filter.1.Name');
    refuses(
      () => new Params({ 'Filter.1.Name': 'n'.repeat(256) }).filters(),
      'invalid',
      'Filter.1.Name',
    );
  });

  it('reads tags (a missing value is empty) and tag specifications, refusing bad ones', () => {
    const p = new Params({
      'Tag.1.Key': 'Name',
      'Tag.1.Value': 'web',
      'Tag.2.Key': 'flag',
      'TagSpecification.1.ResourceType': 'instance',
      'TagSpecification.1.Tag.1.Key': 'env',
      'TagSpecification.1.Tag.1.Value': 'prod',
    });
    assert.deepEqual(p.tags(), [
      { key: 'Name', value: 'web' },
      { key: 'flag', value: '' },
    ]);
    assert.deepEqual(p.tagSpecifications(), [
      { resourceType: 'instance', tags: [{ key: 'env', value: 'prod' }] },
    ]);
    refuses(() => new Params({ 'Tag.1.Value': 'v' }).tags(), 'missing', 'Tag.1.Key');
    refuses(() => new Params({ 'Tag.1.Key': 'k'.repeat(129) }).tags(), 'invalid', 'Tag.1.Key');
    refuses(
      () => new Params({ 'Tag.1.Key': 'k', 'Tag.1.Value': 'v'.repeat(257) }).tags(),
      'invalid',
      'Tag.1.Value',
    );
    refuses(
      () => new Params({ 'TagSpecification.1.Tag.1.Key': 'k' }).tagSpecifications(),
      'missing',
      'TagSpecification.1.ResourceType',
    );
  });
});

describe('NextToken', () => {
  it('round-trips an offset through an opaque token', () => {
    for (const offset of [0, 1, 50, 123456]) {
      const token = pageToken(offset);
      assert.match(token, /^[A-Za-z0-9_-]+$/);
      assert.equal(pageOffset(token), offset);
    }
  });

  it('starts at 0 without a token', () => {
    assert.equal(pageOffset(undefined), 0);
    assert.equal(pageOffset(''), 0);
  });

  it('refuses a token it did not make as an invalid NextToken', () => {
    const forged = (o: unknown) => Buffer.from(JSON.stringify({ o })).toString('base64url');
    for (const token of [
      'garbage!',
      'bm90IGpzb24', // 'not json'
      forged(-1),
      forged(1.5),
      forged('10'),
      forged(null),
      Buffer.from('[]').toString('base64url'),
      Buffer.from('null').toString('base64url'),
    ]) {
      refuses(() => pageOffset(token), 'invalid', 'NextToken', /is not valid/);
    }
  });

  it('shows at most 64 characters of a refused token', () => {
    assert.throws(
      () => pageOffset('z'.repeat(200)),
      (err: unknown) =>
        err instanceof StratusError &&
        err.message === `The token '${'z'.repeat(64)}' is not valid.`,
    );
  });
});
