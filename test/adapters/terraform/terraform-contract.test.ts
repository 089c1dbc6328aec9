import { terraformAdapter } from '../../../src/adapters/terraform/terraform-adapter.js';
import { adapterContract } from '../adapter-contract.js';
import { FAKE_TERRAFORM, fakeProject } from './fake.js';

// The terraform adapter against the executable FAKE terraform CLI (no real Terraform can run here).
// The version reaches the module as a Terraform variable; test/adapters/terraform covers git refs.
adapterContract('terraform (fake terraform CLI)', () => {
  const p = fakeProject();
  p.writeModule('infra/app', {
    resources: { 'fake_app.main': { value: '${var.app_version}' } },
    outputs: { version: { value: '${res.fake_app.main}', type: 'string' } },
  });
  return Promise.resolve({
    adapter: terraformAdapter,
    spec: () => ({
      binary: FAKE_TERRAFORM,
      dir: 'infra/app',
      versionVariable: 'app_version',
      rollback: 'reapply-previous',
      env: { FAKE_TERRAFORM_STATE: p.stateFile },
    }),
    running: () => Promise.resolve(p.state()?.resources['fake_app.main']),
    invalid: [
      { with: {}, path: ['dir'] },
      { with: { dir: 'x', allowDestroy: 'yes' }, path: ['allowDestroy'] },
      { with: { dir: 'x', rollback: 'undo' }, path: ['rollback'] },
      { with: { dir: 'x', timeout: 'soon' }, path: ['timeout'] },
      { with: { dir: 'x', colour: 'red' }, path: [] },
    ],
    context: () => ({ projectDir: p.dir, cacheDir: p.cacheDir, stateDir: p.stateDir }),
    cleanup: () => Promise.resolve(p.cleanup()),
  });
});
