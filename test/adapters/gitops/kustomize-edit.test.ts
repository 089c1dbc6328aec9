import { describe, expect, it } from 'vitest';
import { readKustomizeImage, setKustomizeImage } from '../../../src/adapters/gitops/kustomize-edit.js';
import { YamlEditError } from '../../../src/adapters/gitops/yaml-edit.js';

const KUSTOMIZATION = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization

# Production overlay: do not edit by hand, Lockstep bumps the images.
resources:
  - ../../base
namespace: checkout-prod

images:
  - name: acme/web
    newTag: "5.0.0"
  - name: acme/api   # the API
    newName: registry.example.com/acme/api
    newTag: 1.4.1    # current release
  - name: acme/worker
    digest: sha256:${'a'.repeat(64)}
patches:
  - path: replicas.yaml
`;

describe('kustomize images: in-place edits', () => {
  it('changes only the tag of the named entry, keeping comments and quoting', () => {
    const out = setKustomizeImage(KUSTOMIZATION, 'acme/api', { newTag: '1.4.2', digest: null }, { create: false });
    expect(out).toBe(KUSTOMIZATION.replace('newTag: 1.4.1    # current', 'newTag: 1.4.2    # current'));
    const web = setKustomizeImage(KUSTOMIZATION, 'acme/web', { newTag: '5.1.0' }, { create: false });
    expect(web).toBe(KUSTOMIZATION.replace('newTag: "5.0.0"', 'newTag: "5.1.0"'));
  });

  it('is a no-op (the same text) when the entry already holds the values', () => {
    expect(setKustomizeImage(KUSTOMIZATION, 'acme/api', { newTag: '1.4.1', digest: null }, { create: false })).toBe(KUSTOMIZATION);
  });

  it('quotes a tag that would read as a number', () => {
    const out = setKustomizeImage(KUSTOMIZATION, 'acme/api', { newTag: '1.10' }, { create: false });
    expect(out).toBe(KUSTOMIZATION.replace('newTag: 1.4.1 ', 'newTag: "1.10" '));
    expect(readKustomizeImage(out, 'acme/api')).toEqual({ newName: 'registry.example.com/acme/api', newTag: '1.10' });
  });

  it('a new tag drops a digest (as kustomize edit set image does); a digest is added as a key', () => {
    const digest = `sha256:${'b'.repeat(64)}`;
    const tagged = setKustomizeImage(KUSTOMIZATION, 'acme/worker', { newTag: '2.0.0', digest: null }, { create: false });
    expect(tagged).toBe(KUSTOMIZATION.replace(`    digest: sha256:${'a'.repeat(64)}\n`, '    newTag: 2.0.0\n'));
    const pinned = setKustomizeImage(KUSTOMIZATION, 'acme/web', { digest }, { create: false });
    expect(pinned).toBe(KUSTOMIZATION.replace('    newTag: "5.0.0"\n', `    newTag: "5.0.0"\n    digest: ${digest}\n`));
  });

  it('refuses a missing entry or list unless create: true, naming what is there', () => {
    expect(() => setKustomizeImage(KUSTOMIZATION, 'acme/db', { newTag: '1' }, { create: false })).toThrow(
      new YamlEditError('has no images entry with name: acme/db (it has acme/web, acme/api, acme/worker); add the entry by hand, or set create: true'),
    );
    expect(() => setKustomizeImage('resources: [a.yaml]\n', 'acme/db', { newTag: '1' }, { create: false })).toThrow(/has no images: list/);
    expect(() => setKustomizeImage('- a\n', 'acme/db', { newTag: '1' }, { create: false })).toThrow(/not a kustomization/);
  });

  it('appends an entry with create: true', () => {
    const out = setKustomizeImage(KUSTOMIZATION, 'acme/db', { newTag: '9.1', digest: null }, { create: true });
    expect(out).toBe(KUSTOMIZATION.replace('patches:\n', '  - name: acme/db\n    newTag: "9.1"\npatches:\n'));
    expect(setKustomizeImage('', 'acme/db', { newTag: 'v1' }, { create: true })).toBe('images:\n- name: acme/db\n  newTag: v1\n');
  });
});
