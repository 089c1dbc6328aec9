import { gitopsAdapter } from '../../../src/adapters/gitops/gitops-adapter.js';
import { readKustomizeImage } from '../../../src/adapters/gitops/kustomize-edit.js';
import { adapterContract } from '../adapter-contract.js';
import { gitFixture, overlay } from './git-fixture.js';

// The `gitops` adapter against a real system: a bare git repository (reached by path) whose staging
// overlay pins acme/api. What "runs" is the tag on the remote's main branch, read with git itself.
adapterContract('gitops', () => {
  const fx = gitFixture({ 'apps/api/overlays/staging/kustomization.yaml': overlay('staging', '0.9.0') });
  const cacheDir = fx.cacheDir;
  return Promise.resolve({
    adapter: gitopsAdapter,
    spec: (version) => ({
      repo: fx.remote,
      path: 'apps/api/overlays/staging',
      set: [{ kustomizeImage: 'acme/api', tag: version }],
    }),
    running: () => Promise.resolve(readKustomizeImage(fx.show('apps/api/overlays/staging/kustomization.yaml'), 'acme/api')?.newTag),
    invalid: [
      { with: {}, path: ['repo'] },
      { with: { repo: 'https://exa mple.com/x.git', set: [{ kustomizeImage: 'a', tag: '1' }] }, path: ['repo'] },
      { with: { repo: fx.remote }, path: ['set'] },
      { with: { repo: fx.remote, set: [] }, path: ['set'] },
      { with: { repo: fx.remote, set: [{ kustomizeImage: 'acme/api' }] }, path: ['set', 0, 'kustomizeImage'] },
      { with: { repo: fx.remote, set: [{ file: 'values.yaml', path: 'image.tag' }] }, path: ['set', 0, 'value'] },
      { with: { repo: fx.remote, set: [{ file: 'values.yaml', path: 'a..b', value: 1 }] }, path: ['set', 0, 'path'] },
      { with: { repo: fx.remote, set: [{ kustomizeImage: 'a', tag: '1', value: 2 }] }, path: ['set', 0, 'value'] },
      { with: { repo: fx.remote, set: [{ kustomizeImage: 'a', digest: 'sha256:xyz' }] }, path: ['set', 0, 'digest'] },
      { with: { repo: fx.remote, path: '../other', set: [{ kustomizeImage: 'a', tag: '1' }] }, path: ['path'] },
      { with: { repo: fx.remote, set: [{ kustomizeImage: 'a', tag: '1' }], mode: 'merge' }, path: ['mode'] },
      { with: { repo: fx.remote, set: [{ kustomizeImage: 'a', tag: '1' }], argocd: { server: 'argocd', app: 'a' } }, path: ['argocd', 'server'] },
      { with: { repo: fx.remote, set: [{ kustomizeImage: 'a', tag: '1' }], argocd: { server: 'https://a', app: 'a', username: 'u' } }, path: ['argocd', 'password'] },
      { with: { repo: fx.remote, set: [{ kustomizeImage: 'a', tag: '1' }], colour: 'red' }, path: [] },
    ],
    // Each version arrives by its own promotion, as it would in real use.
    context: (version) => ({ cacheDir, projectDir: fx.root, component: 'api', promotionId: `promo-${version}` }),
    cleanup: () => Promise.resolve(fx.cleanup()),
  });
});
