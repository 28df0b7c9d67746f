// The server action bodies of lifecycle-requests.ts: what each microversion accepts, and the
// 400s for what it does not.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseLifecycleAction } from './lifecycle-requests.js';

const v = (minor: number) => ({ major: 2, minor });
const refused = (body: unknown, minor: number, message: RegExp) =>
  assert.throws(
    () => parseLifecycleAction(body, v(minor)),
    (err: { kind?: string; message: string }) =>
      err.kind === 'invalid' && message.test(err.message),
  );

describe('server action bodies beyond power', () => {
  it('leaves other actions to the other parser', () => {
    assert.equal(parseLifecycleAction({ 'os-stop': null }, v(1)), undefined);
    assert.equal(parseLifecycleAction({ reboot: { type: 'HARD' } }, v(1)), undefined);
    assert.equal(parseLifecycleAction([], v(1)), undefined);
  });

  it('takes the actions without arguments as null or an empty object, nothing else', () => {
    for (const kind of ['pause', 'unpause', 'suspend', 'resume', 'unrescue', 'confirmResize']) {
      assert.deepEqual(parseLifecycleAction({ [kind]: null }, v(1)), { kind });
      assert.deepEqual(parseLifecycleAction({ [kind]: {} }, v(1)), { kind });
    }
    refused({ pause: { now: true } }, 1, /pause/);
  });

  it('takes a lock reason from 2.73 on, of at most 255 characters', () => {
    assert.deepEqual(parseLifecycleAction({ lock: null }, v(1)), { kind: 'lock', reason: null });
    refused({ lock: { locked_reason: 'r' } }, 72, /locked_reason/);
    assert.deepEqual(parseLifecycleAction({ lock: { locked_reason: 'r' } }, v(73)), {
      kind: 'lock',
      reason: 'r',
    });
    refused({ lock: { locked_reason: 'x'.repeat(256) } }, 73, /255/);
  });

  it('requires a flavorRef to resize and an imageRef to rebuild; a rescue image is a uuid', () => {
    assert.deepEqual(parseLifecycleAction({ resize: { flavorRef: 3 } }, v(1)), {
      kind: 'resize',
      flavorRef: '3',
    });
    refused({ resize: {} }, 1, /flavorRef/);
    refused({ resize: { flavorRef: '3', 'OS-DCF:diskConfig': 'SOMETIMES' } }, 1, /diskConfig/);
    refused({ rebuild: { name: 'x' } }, 1, /imageRef/);
    refused({ rescue: { rescue_image_ref: 'cirros' } }, 1, /uuid/);
  });

  it('takes the rebuild fields of the asked microversion only', () => {
    const image = '11111111-2222-4333-8444-555555555555';
    const at = (minor: number, extra: Record<string, unknown>) =>
      parseLifecycleAction({ rebuild: { imageRef: image, ...extra } }, v(minor));
    refused({ rebuild: { imageRef: image, description: 'd' } }, 18, /description/);
    assert.equal((at(19, { description: 'd' }) as { description?: string }).description, 'd');
    refused({ rebuild: { imageRef: image, key_name: 'k' } }, 53, /key_name/);
    assert.equal((at(54, { key_name: null }) as { keyName?: string | null }).keyName, null);
    refused({ rebuild: { imageRef: image, user_data: 'aGk=' } }, 56, /user_data/);
    assert.equal((at(57, { user_data: 'aGk=' }) as { userData?: string }).userData, 'aGk=');
    // Libcloud sends an empty personality; files to inject are refused; gone from 2.57.
    assert.ok(at(56, { personality: [] }));
    refused({ rebuild: { imageRef: image, personality: [{ path: '/x' }] } }, 56, /personality/);
    refused({ rebuild: { imageRef: image, personality: [] } }, 57, /personality/);
    refused({ rebuild: { imageRef: image, accessIPv4: '300.1.1.1' } }, 1, /ipv4/);
    refused({ rebuild: { imageRef: image, metadata: { k: 1 } } }, 1, /metadata/);
  });
});
