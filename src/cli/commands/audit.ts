import { Option, type Command } from 'commander';
import { accessSync, constants, createReadStream, createWriteStream, readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { openCheckpoint } from '../../core/audit-checkpoint.js';
import { openEnvelope } from '../../core/dsse.js';
import { InputError, NotFoundError } from '../../core/errors.js';
import { FINAL_PROMOTION_STATES } from '../../core/model.js';
import type { EvidenceRecord } from '../../store/store.js';
import type { Backend } from '../backend.js';
import { IN_TOTO_PAYLOAD_TYPE } from '../../core/evidence.js';
import { signedHeadOf, verifyAuditExport, type SignedAuditCheck, type SignedHead } from '../../engine/audit-verify.js';
import { readPublicKey } from '../../engine/signing-key.js';
import { once } from 'node:events';
import { collect, globals, outputOption, print, printJson, ReportedError, withBackend } from '../command-kit.js';
import { EXIT } from '../exit-codes.js';

/** `audit verify | export`: the tamper-evident audit log, here or on the server. */
export function addAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log');
  audit
    .command('verify')
    .description('check the hash chain (and, with --key, every signed checkpoint); exits 1 naming the first bad entry')
    .option('--head <hash>', 'a head hash recorded earlier: the chain must still contain it (detects a removed tail)')
    .option('--key <file>', 'the public key (PEM): check every signed checkpoint as well')
    .option('--checkpoint <file>', 'with --key: a signed checkpoint or evidence file kept earlier; the chain must reach the head it signs (detects a cut tail)', collect, [])
    .option('--file <export>', 'with --key: verify an exported log (lockstep audit export) offline, without the state or a server')
    .addOption(outputOption())
    .action(async (o: { head?: string; key?: string; checkpoint: string[]; file?: string }, cmd: Command) => {
      if (o.key === undefined) {
        if (o.file !== undefined || o.checkpoint.length > 0) throw new InputError('--file and --checkpoint need --key PUBLIC_KEY', o.file !== undefined ? '--file' : '--checkpoint');
        await withBackend(cmd, 'read', async (backend, opts) => {
          const result = await backend.verifyAudit(o.head);
          if (opts.output === 'json') printJson(result);
          else if ('headMissing' in result) print(`audit log chain is intact (${result.entries} entries) but does not contain the expected head ${o.head ?? ''}: entries were removed from the end, or the log was rewritten`);
          else if (!result.ok) print(`audit log BROKEN at entry ${result.firstBad}: ${result.reason} (${result.entries} entries before it verified)`);
          else print(`audit log intact: ${result.entries} entries, head ${result.head}`);
          if (!result.ok) throw new ReportedError(EXIT.failed);
        });
        return;
      }
      if (o.head !== undefined) throw new InputError('--head is for a check without --key: with a key, keep a signed checkpoint and pass --checkpoint', '--head');
      const publicKey = readPublicKey(o.key);
      const anchors = o.checkpoint.map((file) => signedHead(file, publicKey));
      const report = (result: SignedAuditCheck, output: 'text' | 'json'): void => {
        if (output === 'json') printJson(result);
        else if (!result.ok) print(`audit log BROKEN${result.firstBad === undefined ? '' : ` at entry ${result.firstBad}`}: ${result.reason} (${result.entries} entries before it verified)`);
        else {
          const last = result.checkpoints.last;
          print(`audit log intact: ${result.entries} entries, head ${result.head}`);
          print(
            last === undefined
              ? 'no signed checkpoint: nothing in the log is signed by this key'
              : `${result.checkpoints.count} signed checkpoint(s) verified; the last signs entry ${last.seq} (${last.time}); ${result.unsignedTail} entries after it are covered by the chain alone`,
          );
        }
        if (!result.ok) throw new ReportedError(EXIT.failed);
      };
      const output = globals(cmd).output;
      if (o.file !== undefined) {
        try {
          accessSync(o.file, constants.R_OK);
        } catch (error) {
          throw new InputError(`cannot read ${o.file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, '--file');
        }
        report(await verifyAuditExport(createReadStream(o.file), publicKey, anchors), output);
        return;
      }
      await withBackend(cmd, 'read', async (backend, opts) => {
        // The evidence stored with the newest promotions signs heads too: a tail cut from the log
        // below one of them is found without a head kept elsewhere.
        const stored = await storedHeads(backend, publicKey);
        report(await verifyAuditExport(backend.exportAudit(), publicKey, [...anchors, ...stored]), opts.output);
        if (opts.output === 'text' && stored.length > 0) print(`the log reaches the audit heads signed in the evidence of the ${stored.length} newest finished promotion(s)`);
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

/** How many of the newest promotions' stored evidence `audit verify --key` checks the log against. */
const STORED_HEADS = 20;

/**
 * The audit heads signed in the evidence of the newest finished promotions, where this key signed
 * it. Unsigned evidence, or evidence signed by another key (an older one), proves nothing and is
 * left out; evidence not written yet (a crash; tick writes it) too.
 */
async function storedHeads(backend: Backend, publicKey: KeyObject): Promise<SignedHead[]> {
  const heads: SignedHead[] = [];
  for (const promotion of await backend.promotions({ limit: STORED_HEADS })) {
    if (!FINAL_PROMOTION_STATES.includes(promotion.state)) continue;
    let record: EvidenceRecord;
    try {
      record = await backend.evidence(promotion.id);
    } catch (error) {
      if (error instanceof NotFoundError || error instanceof InputError) continue;
      throw error;
    }
    const opened = openEnvelope(record.envelope, { publicKey, payloadType: IN_TOTO_PAYLOAD_TYPE });
    if (opened.ok) heads.push(signedHeadOf(JSON.parse(opened.payload.toString('utf8')) as unknown, `the evidence of promotion ${promotion.id}`));
  }
  return heads;
}

/** The head a kept checkpoint or evidence file signs: its signature must be the key's. */
function signedHead(file: string, publicKey: KeyObject): SignedHead {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new InputError(`cannot read ${file} as JSON: ${(error as NodeJS.ErrnoException).code ?? 'not JSON'}`, '--checkpoint');
  }
  // An audit.checkpoint entry (a line of audit export), its data, or its envelope; or exported evidence.
  const entry = value as { data?: { envelope?: unknown }; envelope?: unknown } | null;
  const envelope = entry?.data?.envelope ?? entry?.envelope ?? value;
  const checkpoint = openCheckpoint(envelope, publicKey);
  if (checkpoint.ok) return signedHeadOf(checkpoint.payload, file);
  const evidence = openEnvelope(envelope, { publicKey, payloadType: IN_TOTO_PAYLOAD_TYPE });
  if (!evidence.ok) throw new InputError(`${file}: not a checkpoint or evidence signed by this key (${checkpoint.reason}; ${evidence.reason})`, '--checkpoint');
  return signedHeadOf(JSON.parse(evidence.payload.toString('utf8')) as unknown, file);
}
