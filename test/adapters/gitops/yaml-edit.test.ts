import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  appendYamlListItem,
  formatYamlPath,
  parseYamlPath,
  readYamlValue,
  removeYamlKey,
  setYamlValue,
  YamlEditError,
} from '../../../src/adapters/gitops/yaml-edit.js';

// Pure text in, text out: every test states the whole expected file, so any byte that moves shows.

const VALUES = `# Default values for api.
# This is a YAML-formatted file.

replicaCount: 2   # scaled by HPA in prod

image:
  repository: "registry.example.com/acme/api"
  pullPolicy: IfNotPresent
  # Overrides the image tag whose default is the chart appVersion.
  tag: '1.4.1'    # bumped by Lockstep

serviceAccount:
  create: true
  annotations: {}
  roleArn: arn:aws:iam::111111111111:role/api-old
podLabels: { team: checkout, tier: "backend" }
`;

const at = (path: string) => ({ path: parseYamlPath(path), document: 0 });

describe('setYamlValue: only the scalar changes', () => {
  it('keeps single quotes, the trailing comment and every other byte', () => {
    const out = setYamlValue(VALUES, at('image.tag'), '1.4.2', { create: false });
    expect(out).toBe(VALUES.replace("tag: '1.4.1'    # bumped", "tag: '1.4.2'    # bumped"));
  });

  it('keeps double quotes', () => {
    const out = setYamlValue(VALUES, at('image.repository'), 'ghcr.io/acme/api', { create: false });
    expect(out).toBe(VALUES.replace('"registry.example.com/acme/api"', '"ghcr.io/acme/api"'));
  });

  it('keeps a plain scalar plain', () => {
    const out = setYamlValue(VALUES, at('serviceAccount.roleArn'), 'arn:aws:iam::222222222222:role/api', { create: false });
    expect(out).toBe(VALUES.replace('role/api-old', 'role/api').replace('111111111111', '222222222222'));
  });

  it('quotes a plain scalar when plain would change its type (1.10 is a number, on is a boolean in YAML 1.1)', () => {
    const plain = 'image:\n  tag: v1   # c\n';
    expect(setYamlValue(plain, at('image.tag'), '1.10', { create: false })).toBe('image:\n  tag: "1.10"   # c\n');
    expect(setYamlValue(plain, at('image.tag'), 'on', { create: false })).toBe('image:\n  tag: "on"   # c\n');
    expect(setYamlValue(plain, at('image.tag'), 'a: b', { create: false })).toBe('image:\n  tag: "a: b"   # c\n');
    expect(parse(setYamlValue(plain, at('image.tag'), '1.10', { create: false }))).toEqual({ image: { tag: '1.10' } });
  });

  it('writes numbers and booleans plain', () => {
    expect(setYamlValue(VALUES, at('replicaCount'), 3, { create: false })).toBe(VALUES.replace('replicaCount: 2 ', 'replicaCount: 3 '));
    expect(setYamlValue(VALUES, at('serviceAccount.create'), false, { create: false })).toBe(
      VALUES.replace('create: true', 'create: false'),
    );
  });

  it('edits inside flow collections, quoting what a flow context needs', () => {
    expect(setYamlValue(VALUES, at('podLabels.tier'), 'api', { create: false })).toBe(VALUES.replace('tier: "backend"', 'tier: "api"'));
    expect(setYamlValue(VALUES, at('podLabels.team'), 'a,b', { create: false })).toBe(VALUES.replace('team: checkout', 'team: "a,b"'));
  });

  it('returns the very same text when the value is already there', () => {
    expect(setYamlValue(VALUES, at('image.tag'), '1.4.1', { create: false })).toBe(VALUES);
    expect(setYamlValue(VALUES, at('replicaCount'), 2, { create: false })).toBe(VALUES);
  });

  it('changes a value of another type (the string "2" is not the number 2)', () => {
    expect(setYamlValue(VALUES, at('replicaCount'), '2', { create: false })).toBe(VALUES.replace('replicaCount: 2 ', 'replicaCount: "2" '));
  });

  it('reaches list items by index and keys with dots by quotes', () => {
    const text = 'spec:\n  containers:\n    - name: api\n      image: acme/api:1.0   # pinned\nmetadata:\n  annotations:\n    example.com/team: checkout\n';
    expect(setYamlValue(text, at('spec.containers[0].image'), 'acme/api:1.1', { create: false })).toBe(
      text.replace('acme/api:1.0', 'acme/api:1.1'),
    );
    expect(setYamlValue(text, at('metadata.annotations."example.com/team"'), 'payments', { create: false })).toBe(
      text.replace('team: checkout', 'team: payments'),
    );
  });

  it('fills an empty value', () => {
    expect(setYamlValue('image:\n  tag:\n  pullPolicy: Always\n', at('image.tag'), '2.0', { create: false })).toBe(
      'image:\n  tag: "2.0"\n  pullPolicy: Always\n',
    );
  });

  it('edits the document asked for in a multi-document file, and keeps CRLF line ends', () => {
    const text = 'kind: ConfigMap\r\ndata:\r\n  v: "1"\r\n---\r\nkind: Deployment\r\nspec:\r\n  image: a:1   # x\r\n';
    expect(setYamlValue(text, { path: ['spec', 'image'], document: 1 }, 'a:2', { create: false })).toBe(text.replace('a:1', 'a:2'));
  });

  it('refuses a missing path without create, naming the first missing key', () => {
    expect(() => setYamlValue(VALUES, at('image.digest'), 'x', { create: false })).toThrow(
      new YamlEditError('image.digest does not exist (set create: true to add it)'),
    );
    expect(() => setYamlValue(VALUES, at('ingress.hosts'), 'x', { create: false })).toThrow(/^ingress does not exist/);
  });

  it('creates missing keys at the end of their mapping with create: true, indented like their siblings', () => {
    const out = setYamlValue(VALUES, at('image.digest'), 'sha256:abc', { create: true });
    expect(out).toBe(VALUES.replace("# bumped by Lockstep\n", '# bumped by Lockstep\n  digest: sha256:abc\n'));
    const nested = setYamlValue(VALUES, at('ingress.hosts.main'), 'api.example.com', { create: true });
    expect(nested).toBe(`${VALUES}ingress:\n  hosts:\n    main: api.example.com\n`);
    const flow = setYamlValue(VALUES, at('serviceAccount.annotations.team'), 'checkout', { create: true });
    expect(flow).toBe(VALUES.replace('annotations: {}', 'annotations: {team: checkout}'));
    expect(setYamlValue('', at('a.b'), 1, { create: true })).toBe('a:\n  b: 1\n');
    expect(setYamlValue('# nothing yet\n', at('a'), 'x', { create: true })).toBe('# nothing yet\na: x\n');
    expect(setYamlValue('a: 1', at('b'), 2, { create: true })).toBe('a: 1\nb: 2\n');
  });

  it('refuses what it cannot edit in place, with the reason', () => {
    expect(() => setYamlValue(VALUES, at('image'), 'x', { create: false })).toThrow(/image is a mapping, not a single value/);
    expect(() => setYamlValue(VALUES, at('image.tag.major'), 'x', { create: true })).toThrow(/image.tag holds a single value/);
    expect(() => setYamlValue('a: |\n  text\n', at('a'), 'x', { create: false })).toThrow(/block scalar/);
    expect(() => setYamlValue('a: &x 1\nb: *x\n', at('b'), 2, { create: false })).toThrow(/alias \(\*x\)/);
    expect(() => setYamlValue('a: [1\n', at('a'), 2, { create: false })).toThrow(/not valid YAML/);
    expect(() => setYamlValue('l: [1, 2]\n', at('l[5]'), 2, { create: true })).toThrow(/only adds mapping keys/);
    expect(() => setYamlValue('a: 1\n', { path: ['a'], document: 3 }, 2, { create: false })).toThrow(/document 3 does not exist/);
  });
});

describe('removeYamlKey and appendYamlListItem', () => {
  it('removes a whole line of a block mapping, comment and all', () => {
    const text = 'images:\n  - name: acme/api\n    digest: sha256:abc   # pinned\n    newTag: "1"\n';
    expect(removeYamlKey(text, { path: ['images', 0, 'digest'], document: 0 })).toBe('images:\n  - name: acme/api\n    newTag: "1"\n');
  });

  it('removes a key of a flow mapping with its comma', () => {
    expect(removeYamlKey('x: {a: 1, b: 2, c: 3}\n', { path: ['x', 'b'], document: 0 })).toBe('x: {a: 1, c: 3}\n');
    expect(removeYamlKey('x: {a: 1, b: 2}\n', { path: ['x', 'a'], document: 0 })).toBe('x: {b: 2}\n');
  });

  it('appends a list item in the list’s own style', () => {
    const block = 'images:\n  - name: a   # first\n    newTag: "1"\n# end\n';
    expect(appendYamlListItem(block, { path: ['images'], document: 0 }, { name: 'b', newTag: '2' }, { create: false })).toBe(
      'images:\n  - name: a   # first\n    newTag: "1"\n  - name: b\n    newTag: "2"\n# end\n',
    );
    expect(appendYamlListItem('images: []\n', { path: ['images'], document: 0 }, { name: 'b' }, { create: false })).toBe(
      'images: [{name: b}]\n',
    );
    expect(appendYamlListItem('resources:\n- a.yaml\n', { path: ['images'], document: 0 }, { name: 'b', newTag: '2' }, { create: true })).toBe(
      'resources:\n- a.yaml\nimages:\n- name: b\n  newTag: "2"\n',
    );
  });
});

describe('paths', () => {
  it('parses and prints dotted paths with indexes and quoted keys', () => {
    expect(parseYamlPath('a.b[0].c')).toEqual(['a', 'b', 0, 'c']);
    expect(parseYamlPath('annotations."example.com/x".y')).toEqual(['annotations', 'example.com/x', 'y']);
    expect(formatYamlPath(['a', 'example.com/x', 2])).toBe('a."example.com/x"[2]');
    for (const bad of ['', 'a..b', 'a.', 'a[x]', 'a[1', '"a']) expect(() => parseYamlPath(bad), bad).toThrow(YamlEditError);
  });

  it('reads values', () => {
    expect(readYamlValue(VALUES, at('image.tag'))).toEqual({ found: true, value: '1.4.1' });
    expect(readYamlValue(VALUES, at('image.nope'))).toEqual({ found: false });
    expect(readYamlValue('', at('a'))).toEqual({ found: false });
  });
});
