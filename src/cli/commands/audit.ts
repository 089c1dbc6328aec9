import { Option, type Command } from 'commander';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { outputOption, print, printJson, ReportedError, withBackend } from '../command-kit.js';
import { EXIT } from '../exit-codes.js';

/** `audit verify | export`: the tamper-evident audit log, here or on the server. */
export function addAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log');
  audit
    .command('verify')
    .description('check the hash chain; exits 1 naming the first bad entry')
    .option('--head <hash>', 'a head hash recorded earlier: the chain must still contain it (detects a removed tail)')
    .addOption(outputOption())
    .action(async (o: { head?: string }, cmd: Command) => {
      await withBackend(cmd, 'read', async (backend, opts) => {
        const result = await backend.verifyAudit(o.head);
        if (opts.output === 'json') printJson(result);
        else if ('headMissing' in result) print(`audit log chain is intact (${result.entries} entries) but does not contain the expected head ${o.head ?? ''}: entries were removed from the end, or the log was rewritten`);
        else if (!result.ok) print(`audit log BROKEN at entry ${result.firstBad}: ${result.reason} (${result.entries} entries before it verified)`);
        else print(`audit log intact: ${result.entries} entries, head ${result.head}`);
        if (!result.ok) throw new ReportedError(EXIT.failed);
      });
    });
  audit
    .command('export')
    .description('write the audit log as JSON lines (one entry per line, with hashes: verifiable offline)')
    .addOption(new Option('--format <format>', 'format').choices(['jsonl']).default('jsonl'))
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (o: { out?: string }, cmd: Command) => {
      await withBackend(cmd, 'read', async (backend) => {
        const sink = o.out ? createWriteStream(o.out) : process.stdout;
        try {
          // A chunk at a time, waiting when the sink is full: a long log is never held whole.
          for await (const chunk of backend.exportAudit()) if (!sink.write(chunk)) await once(sink, 'drain');
        } finally {
          if (o.out) await new Promise<void>((res) => (sink as ReturnType<typeof createWriteStream>).end(res));
        }
      });
    });
}
