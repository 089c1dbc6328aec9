import { formatDuration } from '../core/duration.js';
import type { PromotionRecord, StepRecord } from '../core/model.js';
import type { RunObserver } from '../engine/deps.js';
import { printable, printableKeepingColour } from '../core/printable.js';

interface Row {
  state: string;
  phase?: string;
  startedAt?: number;
  finishedAt?: number;
  lastLog?: string;
}

const ICON: Record<string, string> = {
  pending: '·', running: '▶', succeeded: '✔', unchanged: '=', failed: '✘', skipped: '-',
  'rolling-back': '↺', 'rolled-back': '↩', 'rollback-failed': '✘', interrupted: '‼',
};

/**
 * Per-component progress for `promote`, `resume` and `rollback`. On a terminal: a live table redrawn in
 * place (state, phase, duration, last log line). Otherwise: one plain line per change and per log line.
 */
export class Progress implements RunObserver {
  private readonly rows = new Map<string, Row>();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private width = 20;
  private stopped = false;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly live: boolean,
  ) {}

  start(components: readonly string[]): void {
    this.width = Math.max(9, ...components.map((c) => c.length));
    for (const c of components) if (!this.rows.has(c)) this.rows.set(c, { state: 'pending' });
    if (this.live) {
      this.timer = setInterval(() => this.draw(), 100);
      this.timer.unref();
      this.draw();
    }
  }

  /** Draws the final state once; later calls do nothing, so a summary printed after it stays last. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.live && this.rows.size > 0) this.draw();
  }

  promotion(p: PromotionRecord): void {
    if (!this.live && (p.state === 'rolling-back' || p.state === 'interrupted')) this.line(`promotion ${p.id.slice(0, 12)} ${p.state}`);
  }

  step(s: StepRecord): void {
    const row = this.rows.get(s.component) ?? { state: 'pending' };
    const changed = row.state !== s.state || row.phase !== s.phase;
    row.state = s.state;
    row.phase = s.state === 'running' ? s.phase : undefined;
    if (s.startedAt) row.startedAt = Date.parse(s.startedAt);
    row.finishedAt = s.finishedAt && s.state !== 'running' && s.state !== 'rolling-back' ? Date.parse(s.finishedAt) : undefined;
    this.rows.set(s.component, row);
    if (!this.live && changed) {
      const extra = s.state === 'failed' ? `: ${s.error ?? ''}` : s.state === 'rollback-failed' ? `: ${s.rollbackError ?? s.error ?? ''}` : s.finishedAt && row.finishedAt ? ` (${this.duration(row)})` : '';
      this.line(`${s.component.padEnd(this.width)}  ${s.state}${row.phase ? ` ${row.phase}` : ''}${extra}`);
    }
  }

  log(component: string, line: string): void {
    const row = this.rows.get(component);
    // The live table is redrawn in place: nothing in it may move the cursor or change colour.
    if (row) row.lastLog = printable(line);
    // A command's own colour may stay in a plain log line; cursor movement and the like may not.
    if (!this.live) this.line(`${component.padEnd(this.width)}  | ${printableKeepingColour(line)}`);
  }

  private duration(row: Row): string {
    if (row.startedAt === undefined) return '';
    return formatDuration((row.finishedAt ?? Date.now()) - row.startedAt);
  }

  private line(text: string): void {
    this.out.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
  }

  private draw(): void {
    const columns = this.out.columns || 100;
    const lines = [...this.rows.entries()].map(([name, row]) => {
      const state = `${ICON[row.state] ?? ' '} ${row.state}${row.phase ? ` (${row.phase})` : ''}`;
      const text = `${name.padEnd(this.width)}  ${state.padEnd(22)} ${this.duration(row).padStart(7)}  ${row.lastLog ?? ''}`;
      return text.length > columns - 1 ? text.slice(0, columns - 2) + '…' : text;
    });
    let buffer = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const l of lines) buffer += `\x1b[2K${l}\n`;
    this.out.write(buffer);
    this.drawn = lines.length;
  }
}
