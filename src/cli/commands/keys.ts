import type { Command } from 'commander';
import { generateKeyFiles, SIGNING_KEY_FILE_VAR } from '../../engine/signing-key.js';
import { print } from '../command-kit.js';

/** `keys generate`: the Ed25519 key pair evidence and audit checkpoints are signed with. */
export function addKeysCommands(program: Command): void {
  const keys = program.command('keys').description('the signing key of evidence and audit checkpoints');
  keys
    .command('generate')
    .description('write a new Ed25519 key pair: PREFIX.key (private, mode 0600) and PREFIX.pub (public, PEM); never overwrites')
    .requiredOption('--out <prefix>', 'where to write: PREFIX.key and PREFIX.pub')
    .action((o: { out: string }) => {
      const written = generateKeyFiles(o.out);
      print(`wrote ${written.keyFile} (private: keep it secret) and ${written.pubFile} (public: give it to whoever verifies)`);
      print(`key id ${written.keyid}`);
      print(`sign with it: export ${SIGNING_KEY_FILE_VAR}=${written.keyFile}`);
    });
}
