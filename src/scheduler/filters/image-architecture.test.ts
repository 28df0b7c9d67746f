// The image architecture filter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostState, NOW, requestSpec } from '../../../test/support/host-state.js';
import { imageArchitectureFilter as filter } from './image-architecture.js';

describe('image architecture filter', () => {
  const x86 = hostState({ architecture: 'x86_64' });
  const arm = hostState({ architecture: 'arm64' });

  it('passes every host when the image names no architecture', () => {
    assert.equal(filter.passes(arm, requestSpec(), NOW), true);
  });

  it('passes hosts that run the image architecture', () => {
    assert.equal(filter.passes(x86, requestSpec({ architecture: 'x86_64' }), NOW), true);
    assert.equal(filter.passes(arm, requestSpec({ architecture: 'arm64' }), NOW), true);
  });

  it('passes i386 images on x86_64 hosts, not the other way round', () => {
    assert.equal(filter.passes(x86, requestSpec({ architecture: 'i386' }), NOW), true);
    const i386 = hostState({ architecture: 'i386' });
    assert.equal(filter.passes(i386, requestSpec({ architecture: 'x86_64' }), NOW), false);
  });

  it('refuses hosts of another architecture, naming it', () => {
    assert.equal(filter.passes(x86, requestSpec({ architecture: 'arm64' }), NOW), false);
    assert.equal(filter.passes(arm, requestSpec({ architecture: 'x86_64' }), NOW), false);
    assert.match(filter.refusal(requestSpec({ architecture: 'arm64' })), /arm64 guests/);
  });
});
