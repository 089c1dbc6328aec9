import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { InputError } from '../../core/errors.js';
import { verifyEvidenceText } from '../../core/evidence-verify.js';
import { readPublicKey } from '../../engine/signing-key.js';
import { outputOption, print, printJson, ReportedError, withBackend } from '../command-kit.js';
import { EXIT } from '../exit-codes.js';

/** `evidence export | verify`: a promotion's signed in-toto statement (docs/evidence.md). */
export function addEvidenceCommands(program: Command): void {
  const evidence = program.command('evidence').description("a promotion's signed evidence: an in-toto statement in a DSSE envelope");
  evidence
    .command('export')
    .description("write a promotion's evidence (the DSSE envelope, JSON) to a file or stdout")
    .argument('<promotion>', 'promotion id or unique prefix (≥ 7 characters)')
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (ref: string, o: { out?: string }, cmd: Command) => {
      await withBackend(cmd, 'read', async (backend) => {
        const record = await backend.evidence(ref);
        const text = `${JSON.stringify(record.envelope, null, 2)}\n`;
        if (o.out === undefined) {
          process.stdout.write(text);
          return;
        }
        writeFileSync(o.out, text);
        const how = record.keyid === undefined ? 'UNSIGNED (no signing key was configured)' : `signed by key ${record.keyid}`;
        process.stderr.write(`lockstep: wrote the evidence of promotion ${record.promotionId.slice(0, 12)} to ${o.out}, ${how}\n`);
      });
    });
  evidence
    .command('verify')
    .description('check an exported evidence file offline: signature, statement shape, and what it is about; exits 0 valid, 1 invalid')
    .argument('<file>', 'the exported evidence (DSSE envelope)')
    .option('--key <file>', 'the public key (PEM), as lockstep keys generate wrote it')
    .option('--release <id>', 'the release it must be about (id or prefix of at least 7 characters)')
    .option('--environment <env>', 'the environment it must be about')
    .option('--allow-unsigned', 'accept evidence written without a key (it then proves nothing about who wrote it)')
    .addOption(outputOption())
    .action((file: string, o: { key?: string; release?: string; environment?: string; allowUnsigned?: boolean; output: 'text' | 'json' }) => {
      if (o.key === undefined && !o.allowUnsigned) throw new InputError('evidence verify needs --key PUBLIC_KEY (or --allow-unsigned for unsigned evidence)', '--key');
      if (o.release !== undefined && !/^[0-9a-f]{7,64}$/.test(o.release)) throw new InputError('--release must be a release id or a prefix of at least 7 hex characters', '--release');
      const publicKey = o.key === undefined ? undefined : readPublicKey(o.key);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        throw new InputError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, 'file');
      }
      const result = verifyEvidenceText(text, { publicKey, allowUnsigned: o.allowUnsigned ?? false, releaseId: o.release, environment: o.environment });
      if (o.output === 'json') printJson(result);
      else if (result.ok) {
        const s = result.statement.predicate;
        print(`${file}: valid ${result.signed ? `evidence, signed by key ${result.keyid ?? ''}` : 'UNSIGNED evidence (accepted with --allow-unsigned: it proves nothing about who wrote it)'}`);
        print(`  promotion ${s.promotion.id.slice(0, 12)} of release ${s.release.id.slice(0, 12)} to ${s.environment} (${s.project}): ${s.promotion.state}`);
        print(`  ${result.statement.subject.length} subject(s), ${s.approvals.length} approval(s), ${s.steps.length} step(s), audit head ${s.audit.seq} ${s.audit.hash.slice(0, 12)}`);
      } else print(`${file}: INVALID: ${result.reason}`);
      if (!result.ok) throw new ReportedError(EXIT.failed);
    });
}
