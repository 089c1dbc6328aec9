import type { Command } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import { builtinAdapters } from '../../adapters/registry.js';
import { configJsonSchema } from '../../core/config/config-schema.js';
import { initTemplate } from '../../core/config/init-template.js';
import { ConfigError, InputError } from '../../core/errors.js';
import { globals, outputOption, print, printJson, ReportedError } from '../command-kit.js';
import { openStore, readConfig } from '../context.js';
import { EXIT } from '../exit-codes.js';

/**
 * `init`, `validate`, `schema`: the project's files on this machine, by nature, also when the CLI
 * otherwise talks to a server (a config is written and checked where it is edited).
 */
export function addProjectCommands(program: Command): void {
  program
    .command('init')
    .description('write a commented example lockstep.yaml')
    .option('--force', 'overwrite an existing file')
    .addHelpText('after', '\nExample:\n  lockstep init && lockstep validate')
    .action(async (o: { force?: boolean }, cmd: Command) => {
      const opts = globals(cmd);
      const file = opts.config;
      if (existsSync(file) && !o.force) throw new InputError(`${file} exists already (use --force to overwrite)`, 'config');
      writeFileSync(file, initTemplate());
      // A project starts here: its state too (an existing one is left as it is). With a server set
      // too: a new project's files are made here whatever the CLI talks to afterwards.
      await (await openStore({ ...opts, server: undefined }, 'create')).close();
      print(`wrote ${file}; check it with: lockstep validate`);
    });

  program
    .command('validate')
    .description('check the config; prints every problem as FILE:LINE:COL: path: message')
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  lockstep validate --config deploy/lockstep.yaml')
    .action((_o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      try {
        const loaded = readConfig(opts.config);
        const c = loaded.config;
        if (opts.output === 'json') printJson({ valid: true, file: opts.config, digest: loaded.digest, environments: Object.keys(c.environments), components: Object.keys(c.components), problems: [] });
        else print(`${opts.config}: valid (${Object.keys(c.environments).length} environments, ${Object.keys(c.components).length} components)`);
      } catch (error) {
        if (error instanceof ConfigError && opts.output === 'json') {
          printJson({ valid: false, file: opts.config, problems: error.problems });
          throw new ReportedError(EXIT.invalid);
        }
        throw error;
      }
    });

  program
    .command('schema')
    .description('print the JSON Schema of lockstep.yaml (for editor completion)')
    .addHelpText('after', '\nExample:\n  lockstep schema > lockstep.schema.json   # then: # yaml-language-server: $schema=lockstep.schema.json')
    .action(() => printJson(configJsonSchema(builtinAdapters())));
}
